package render

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strconv"
	"sync"
)

// SCRAM-SHA-256 parameters: PostgreSQL's defaults (scram_iterations=4096,
// 16-byte salts).
const (
	scramIterations = 4096
	scramSaltLen    = 16
	// scramSaltContext separates the salt derivation from any other use of
	// the same password; bump the version to change every rendered salt.
	scramSaltContext = "immich-render/postgres-scram-salt/v1\x00"
)

// scramVerifier returns the SCRAM-SHA-256 verifier PostgreSQL stores for
// role's password, in the form CREATE/ALTER ROLE ... PASSWORD accepts:
//
//	SCRAM-SHA-256$<iterations>:<base64 salt>$<base64 StoredKey>:<base64 ServerKey>
//
// The output must be reproducible (see the README), so the salt is not random
// but derived from the role name and the password:
//
//	salt = PBKDF2-HMAC-SHA256(password, scramSaltContext || role, 4096, 16)
//
// A salt is public: it sits in the verifier next to the keys. A cheap
// function of the password (such as one HMAC keyed with it) would let an
// attacker who reads the verifier test guesses against the salt instead of
// the keys, skipping the 4096 iterations. Deriving it with the same PBKDF2
// cost keeps the salt no easier to attack than the verifier itself. The
// role name in it gives two roles with one password different salts; the
// same (role, password) pair still gives the same verifier on every host,
// the price of a reproducible output, which the 12-character minimum and a
// random password make harmless.
//
// The password is hashed as its raw UTF-8 bytes. PostgreSQL's own clients
// (libpq: psql, pg_dump) first normalise a non-ASCII password with
// SASLprep; Immich's client (postgres.js) does not. Both agree for ASCII
// passwords and for passwords that SASLprep leaves unchanged (NFKC-normal,
// no non-ASCII spaces or ignorable characters), such as "pässwörd-日本".
//
// The two PBKDF2 runs cost about a millisecond; a fleet's hosts usually
// share one role and password, so each pair is derived once per process
// (see scramVerifiers) and the hosts rendered in parallel wait for it
// rather than derive it again.
func scramVerifier(role, password string) string {
	return scramVerifiers.get(role, password)
}

// scramMemo remembers the verifier of each (role, password) pair. Since the
// verifier is a pure function of the pair, remembering it changes no
// output. The key is a hash of the pair, so the memo holds no password.
type scramMemo struct {
	mu   sync.Mutex
	done map[[sha256.Size]byte]*scramOnce
}

type scramOnce struct {
	once     sync.Once
	verifier string
}

// scramVerifiers is the process's memo: the only state this package keeps
// between renders, and it only saves time.
var scramVerifiers = &scramMemo{done: map[[sha256.Size]byte]*scramOnce{}}

func (m *scramMemo) get(role, password string) string {
	h := sha256.New()
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(role))))
	h.Write([]byte(role))
	h.Write([]byte(password))
	var key [sha256.Size]byte
	h.Sum(key[:0])
	m.mu.Lock()
	e := m.done[key]
	if e == nil {
		e = &scramOnce{}
		m.done[key] = e
	}
	m.mu.Unlock()
	e.once.Do(func() { e.verifier = deriveSCRAMVerifier(role, password) })
	return e.verifier
}

// deriveSCRAMVerifier is scramVerifier without the memo.
func deriveSCRAMVerifier(role, password string) string {
	salt := mustPBKDF2(password, []byte(scramSaltContext+role), scramIterations, scramSaltLen)
	return scramVerifierWithSalt(password, salt, scramIterations)
}

// scramVerifierWithSalt computes the verifier for a given salt and
// iteration count (RFC 5802 section 3, with SHA-256 as in RFC 7677):
//
//	SaltedPassword = PBKDF2-HMAC-SHA256(password, salt, iterations, 32)
//	StoredKey      = SHA-256(HMAC(SaltedPassword, "Client Key"))
//	ServerKey      = HMAC(SaltedPassword, "Server Key")
func scramVerifierWithSalt(password string, salt []byte, iterations int) string {
	salted := mustPBKDF2(password, salt, iterations, sha256.Size)
	clientKey := hmacSHA256(salted, "Client Key")
	storedKey := sha256.Sum256(clientKey)
	serverKey := hmacSHA256(salted, "Server Key")
	b64 := base64.StdEncoding.EncodeToString
	return "SCRAM-SHA-256$" + strconv.Itoa(iterations) + ":" + b64(salt) + "$" + b64(storedKey[:]) + ":" + b64(serverKey)
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// mustPBKDF2 panics where crypto/pbkdf2 refuses (only in FIPS 140-only
// mode, for parameters that are constants here): a renderer has no error
// path, and this is not user input.
func mustPBKDF2(password string, salt []byte, iterations, keyLen int) []byte {
	k, err := pbkdf2.Key(sha256.New, password, salt, iterations, keyLen)
	if err != nil {
		panic(fmt.Sprintf("pbkdf2: %v", err))
	}
	return k
}
