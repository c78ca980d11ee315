package render

import (
	"bytes"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"regexp"
	"strconv"
	"sync"
	"testing"
)

// scramParts splits a verifier into its iteration count, salt, StoredKey
// and ServerKey, failing the test on anything but PostgreSQL's format.
func scramParts(t *testing.T, v string) (iter int, salt, storedKey, serverKey []byte) {
	t.Helper()
	m := regexp.MustCompile(`^SCRAM-SHA-256\$([0-9]+):([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$`).FindStringSubmatch(v)
	if m == nil {
		t.Fatalf("not a SCRAM-SHA-256 verifier: %q", v)
	}
	iter, _ = strconv.Atoi(m[1])
	dec := func(s string) []byte {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			t.Fatalf("verifier %q: %v", v, err)
		}
		return b
	}
	return iter, dec(m[2]), dec(m[3]), dec(m[4])
}

// TestSCRAMRFC7677 checks the key derivation against the SCRAM-SHA-256
// exchange published in RFC 7677 section 3 (user "user", password
// "pencil"): a server holding our verifier must accept that client proof
// and send that server signature.
func TestSCRAMRFC7677(t *testing.T) {
	salt, _ := base64.StdEncoding.DecodeString("W22ZaJ0SNY7soEsUEjb6gQ==")
	v := scramVerifierWithSalt("pencil", salt, 4096)
	iter, gotSalt, storedKey, serverKey := scramParts(t, v)
	if iter != 4096 || !bytes.Equal(gotSalt, salt) {
		t.Fatalf("verifier %q: iterations %d, salt %x", v, iter, gotSalt)
	}

	const (
		clientFirstBare    = "n=user,r=rOprNGfwEbeRWgbNEkqO"
		serverFirst        = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
		clientFinalNoProof = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
		clientProofB64     = "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
		serverSignature    = "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
	)
	authMessage := clientFirstBare + "," + serverFirst + "," + clientFinalNoProof

	// The server's check (RFC 5802 section 3): ClientKey = ClientProof XOR
	// HMAC(StoredKey, AuthMessage), and SHA-256(ClientKey) must be StoredKey.
	proof, _ := base64.StdEncoding.DecodeString(clientProofB64)
	clientSig := hmacSHA256(storedKey, authMessage)
	clientKey := make([]byte, len(proof))
	for i := range proof {
		clientKey[i] = proof[i] ^ clientSig[i]
	}
	if sum := sha256.Sum256(clientKey); !bytes.Equal(sum[:], storedKey) {
		t.Errorf("the RFC 7677 client proof does not match StoredKey of %s", v)
	}
	if got := base64.StdEncoding.EncodeToString(hmacSHA256(serverKey, authMessage)); got != serverSignature {
		t.Errorf("server signature = %s, RFC 7677 says %s", got, serverSignature)
	}
}

// TestSCRAMSaltDerivation pins the documented salt derivation, so that a
// change (which would change every rendered init.sql) is deliberate.
func TestSCRAMSaltDerivation(t *testing.T) {
	const role, pw = "immich", "pg-secret-0123456789"
	v := scramVerifier(role, pw)
	iter, salt, _, _ := scramParts(t, v)
	want, _ := pbkdf2.Key(sha256.New, pw, []byte("immich-render/postgres-scram-salt/v1\x00"+role), 4096, 16)
	if iter != 4096 || !bytes.Equal(salt, want) {
		t.Errorf("verifier %s: iterations %d, salt %x; want 4096 and %x", v, iter, salt, want)
	}
	if v != scramVerifier(role, pw) {
		t.Error("scramVerifier is not deterministic")
	}
	const pinned = "SCRAM-SHA-256$4096:3/25ZZ3cqPeMaD0ZOtGt/w==$wkNIkgnVGuH1KgHuT5hBL3ESNZA+F42x1JEatecWGI8=:6VlbU/Y8ZqzRe7s4VbvAaeOyNpG2/TfpwjCEsdDpoxk="
	if v != pinned {
		t.Errorf("scramVerifier(%q, %q) =\n%s\nwant\n%s", role, pw, v, pinned)
	}
	// The role name and the password both change the salt.
	for _, other := range [][2]string{{"immich2", pw}, {role, pw + "x"}} {
		_, s, _, _ := scramParts(t, scramVerifier(other[0], other[1]))
		if bytes.Equal(s, salt) {
			t.Errorf("role %q, password %q: same salt as %q, %q", other[0], other[1], role, pw)
		}
	}
	// The salt is not a cheap function of the password: one HMAC keyed
	// with it, the obvious alternative, gives something else.
	m := hmac.New(sha256.New, []byte(pw))
	m.Write([]byte(role))
	if bytes.Equal(m.Sum(nil)[:16], salt) {
		t.Error("salt is HMAC(password, role)")
	}
}

// The memo returns what the derivation returns, keeps pairs apart even
// when role+password concatenate alike, and gives concurrent callers one
// value.
func TestSCRAMMemo(t *testing.T) {
	m := &scramMemo{done: map[[sha256.Size]byte]*scramOnce{}}
	pairs := [][2]string{{"ab", "c-secret-0123456789"}, {"a", "bc-secret-0123456789"}}
	got := make([][8]string, len(pairs))
	var wg sync.WaitGroup
	for i, p := range pairs {
		for j := range 8 {
			wg.Go(func() { got[i][j] = m.get(p[0], p[1]) })
		}
	}
	wg.Wait()
	for i, p := range pairs {
		want := deriveSCRAMVerifier(p[0], p[1])
		for _, v := range got[i] {
			if v != want {
				t.Errorf("memo(%q, %q) = %s, want %s", p[0], p[1], v, want)
			}
		}
	}
	if got[0][0] == got[1][0] {
		t.Error("two pairs with the same concatenation share a verifier")
	}
	if len(m.done) != len(pairs) {
		t.Errorf("memo holds %d entries, want %d", len(m.done), len(pairs))
	}
}

// BenchmarkSCRAMVerifier is the cost of a verifier per host: derived (two
// PBKDF2 runs of 4096 rounds), and from the memo, as in a fleet.
func BenchmarkSCRAMVerifier(b *testing.B) {
	b.Run("derive", func(b *testing.B) {
		for b.Loop() {
			deriveSCRAMVerifier("immich", "pg-secret-0123456789")
		}
	})
	b.Run("memo", func(b *testing.B) {
		b.ReportAllocs()
		scramVerifier("immich", "pg-secret-0123456789") // the one derivation, untimed
		for b.Loop() {
			scramVerifier("immich", "pg-secret-0123456789")
		}
	})
}
