package budget

import "testing"

func TestSize(t *testing.T) {
	for in, want := range map[string]Size{"0": 0, "512": 512, "64KiB": 64 << 10, "2GiB": 2 << 30, "512 MiB": 512 << 20, "3M": 3 << 20, "10B": 10} {
		var s Size
		if err := s.Set(in); err != nil || s != want {
			t.Errorf("Set(%q) = %d, %v; want %d", in, s, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1.5GiB", "2TB", "lots", "9999999999GiB"} {
		var s Size
		if err := s.Set(in); err == nil {
			t.Errorf("Set(%q) = %d; want an error", in, s)
		}
	}
	for s, want := range map[Size]string{2 << 30: "2 GiB", 256 << 20: "256 MiB", 64 << 10: "64 KiB", 1000: "1000 bytes"} {
		if got := s.String(); got != want {
			t.Errorf("%d.String() = %q; want %q", int64(s), got, want)
		}
	}
}
