package ansible

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strings"
)

// vaultHeader starts every Ansible Vault payload: "$ANSIBLE_VAULT;1.1;AES256"
// or, with a vault id, "$ANSIBLE_VAULT;1.2;AES256;LABEL".
const vaultHeader = "$ANSIBLE_VAULT"

// errNoVaultPassword and errWrongVaultPassword are the two vault failures
// a user fixes differently; messages name the file around them.
var (
	errNoVaultPassword    = errors.New("is vault-encrypted, and no --vault-password-file was given")
	errWrongVaultPassword = errors.New("does not decrypt with the vault password given (wrong password, or a different vault id)")
)

// Vault holds the passwords that decrypt vault payloads. A nil or empty
// Vault decrypts nothing.
type Vault struct {
	passwords [][]byte
}

// ReadVaultPassword reads a password as Ansible's --vault-password-file
// does: an executable file is run and its standard output, without the
// trailing line break, is the password; any other file is read and
// stripped of surrounding white space.
func ReadVaultPassword(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("vault password file %s: %w", path, pathErr(err))
	}
	var pw []byte
	if st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0 {
		cmd := exec.Command(path)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("vault password script %s failed: %v: %s", path, err, strings.TrimSpace(stderr.String()))
		}
		pw = bytes.Trim(out, "\r\n")
	} else {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("vault password file %s: %w", path, pathErr(err))
		}
		pw = bytes.TrimSpace(data)
	}
	if len(pw) == 0 {
		return nil, fmt.Errorf("vault password file %s is empty", path)
	}
	return pw, nil
}

// pathErr drops the path from an *fs.PathError, which messages name already.
func pathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// NewVault returns a Vault that tries each password in turn.
func NewVault(passwords ...[]byte) *Vault { return &Vault{passwords: passwords} }

// isVault reports whether data is a vault payload.
func isVault(data []byte) bool {
	return bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte(vaultHeader+";"))
}

// vaultFormatError is a payload that is not a well-formed vault.
type vaultFormatError struct{ msg string }

func (e vaultFormatError) Error() string { return "is not a valid vault payload: " + e.msg }

// Decrypt decrypts one vault payload (format 1.1 or 1.2, AES256), trying
// every password. The label of a 1.2 payload only orders the attempts in
// Ansible; here every password is tried, so the label does not matter.
func (v *Vault) Decrypt(data []byte) ([]byte, error) {
	text := strings.TrimSpace(string(data))
	header, body, _ := strings.Cut(text, "\n")
	parts := strings.Split(strings.TrimSpace(header), ";")
	if parts[0] != vaultHeader || len(parts) < 3 {
		return nil, vaultFormatError{"the first line is not $ANSIBLE_VAULT;1.1;AES256"}
	}
	switch parts[1] {
	case "1.1", "1.2":
	default:
		return nil, vaultFormatError{fmt.Sprintf("format version %q; want 1.1 or 1.2", parts[1])}
	}
	if parts[2] != "AES256" {
		return nil, vaultFormatError{fmt.Sprintf("cipher %q; want AES256", parts[2])}
	}
	if parts[1] == "1.2" && (len(parts) < 4 || parts[3] == "") {
		return nil, vaultFormatError{"format 1.2 without a vault id"}
	}
	hexed := strings.Join(strings.Fields(body), "")
	inner, err := hex.DecodeString(hexed)
	if err != nil {
		return nil, vaultFormatError{"the payload is not hexadecimal"}
	}
	fields := strings.Split(string(inner), "\n")
	if len(fields) != 3 {
		return nil, vaultFormatError{"the payload does not hold salt, HMAC and ciphertext"}
	}
	salt, err1 := hex.DecodeString(fields[0])
	mac, err2 := hex.DecodeString(fields[1])
	ciphertext, err3 := hex.DecodeString(fields[2])
	if err1 != nil || err2 != nil || err3 != nil || len(salt) == 0 || len(mac) != sha256.Size ||
		len(ciphertext) == 0 || len(ciphertext)%aes.BlockSize != 0 {
		return nil, vaultFormatError{"salt, HMAC or ciphertext is malformed"}
	}
	if len(v.passwords) == 0 {
		return nil, errNoVaultPassword
	}
	for _, pw := range v.passwords {
		key, err := pbkdf2.Key(sha256.New, string(pw), salt, 10000, 2*32+aes.BlockSize)
		if err != nil {
			return nil, err
		}
		cipherKey, macKey, iv := key[:32], key[32:64], key[64:]
		h := hmac.New(sha256.New, macKey)
		h.Write(ciphertext)
		if !hmac.Equal(h.Sum(nil), mac) {
			continue
		}
		block, err := aes.NewCipher(cipherKey)
		if err != nil {
			return nil, err
		}
		plain := make([]byte, len(ciphertext))
		cipher.NewCTR(block, iv).XORKeyStream(plain, ciphertext)
		n := int(plain[len(plain)-1])
		if n == 0 || n > aes.BlockSize || n > len(plain) || !bytes.Equal(plain[len(plain)-n:], bytes.Repeat([]byte{byte(n)}, n)) {
			return nil, vaultFormatError{"bad padding after decryption"}
		}
		return plain[:len(plain)-n], nil
	}
	return nil, errWrongVaultPassword
}
