package ansible

import (
	"reflect"
	"strings"
	"testing"
)

func TestPyLiteral(t *testing.T) {
	for in, want := range map[string]any{
		"2283": int64(2283), "-5": int64(-5), "0x1F": int64(31), "1_000": int64(1000), "0123": "0123",
		"1.5": 1.5, "True": true, "False": false, "None": nil, "yes": "yes", "true": "true",
		`"Europe/Berlin"`: "Europe/Berlin", `'a' "b"`: "ab", `'it\'s'`: "it's",
		"[1, 'a']": []any{int64(1), "a"}, "{'k': 2}": map[string]any{"k": int64(2)}, "(1,)": []any{int64(1)},
		"{1, 2}": "{1, 2}", "v1.140.0": "v1.140.0", "/mnt/x": "/mnt/x", "": "",
	} {
		if got := pyLiteral(in, Pos{}).Interface(); !reflect.DeepEqual(got, want) {
			t.Errorf("pyLiteral(%q) = %#v, want %#v", in, got, want)
		}
	}
}

func TestShlexSplit(t *testing.T) {
	for in, want := range map[string][]string{
		`h a=1 b="x y"`:      {"h", "a=1", "b=x y"},
		`h a='q"q' # note`:   {"h", `a=q"q`},
		`h a="\"x\"" b=c\ d`: {"h", `a="x"`, "b=c d"},
		`h a=b#c`:            {"h", "a=b"},
	} {
		got, err := shlexSplit(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("shlexSplit(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := shlexSplit(`h a="open`); err == nil {
		t.Error("an unclosed quote is accepted")
	}
}

func TestExpandHostPattern(t *testing.T) {
	got, err := expandHostPattern("web[08:10].example.com:2222")
	want := []hostName{{"web08.example.com", "2222"}, {"web09.example.com", "2222"}, {"web10.example.com", "2222"}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, %v", got, err)
	}
	if got, _ := expandHostPattern("db-[a:c]"); len(got) != 3 || got[2].name != "db-c" {
		t.Errorf("letters: %v", got)
	}
	if _, err := expandHostPattern("x[3:1]"); err == nil {
		t.Error("a backwards range is accepted")
	}
}

func TestHostNames(t *testing.T) {
	got := hostNames([]string{"NAS-2.example.com", "nas_2.example.com", "ok", "-x-", strings.Repeat("a", 70)})
	want := map[string]string{"NAS-2.example.com": "nas-2-example-com", "nas_2.example.com": "nas-2-example-com-2",
		"ok": "ok", "-x-": "x", strings.Repeat("a", 70): strings.Repeat("a", 63)}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("hostNames = %v, want %v", got, want)
	}
}

func TestVaultFormat(t *testing.T) {
	v := NewVault([]byte("pw"))
	for payload, want := range map[string]string{
		"$ANSIBLE_VAULT;1.0;AES\n00":            "format version",
		"$ANSIBLE_VAULT;1.1;AES128\n00":         "cipher",
		"$ANSIBLE_VAULT;1.2;AES256\n00":         "without a vault id",
		"$ANSIBLE_VAULT;1.1;AES256\nzz":         "not hexadecimal",
		"$ANSIBLE_VAULT;1.1;AES256\n616263":     "salt, HMAC and ciphertext",
		"$ANSIBLE_VAULT;1.1;AES256\n610a620a63": "malformed",
		"$ANSIBLE_VAULT;1.1;AES256\n" + hexOf("00\n"+strings.Repeat("00", 32)+"\n"+strings.Repeat("00", 16)): "does not decrypt",
	} {
		_, err := v.Decrypt([]byte(payload))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Decrypt(%q) = %v, want %q", payload, err, want)
		}
	}
}

func hexOf(s string) string {
	const digits = "0123456789abcdef"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteByte(digits[s[i]>>4])
		b.WriteByte(digits[s[i]&15])
	}
	return b.String()
}

func TestDenyDangerousLast(t *testing.T) {
	for in, want := range map[string]string{
		"-@dangerous +@read +@write":             "+@read +@write -@dangerous",
		"&* -@dangerous +@read +@write +keys":    "&* +@read +@write -@dangerous +keys",
		"+@read +@write":                         "+@read +@write -@dangerous",
		"-@all +@read -@dangerous +@write +ping": "-@all +@read +@write -@dangerous +ping",
	} {
		if got := denyDangerousLast(in); got != want {
			t.Errorf("denyDangerousLast(%q) = %q, want %q", in, got, want)
		}
		if left := unnamedDangerous(nil, denyDangerousLast(in)); len(left) > 0 {
			t.Errorf("%q still grants %v", denyDangerousLast(in), left)
		}
	}
}
