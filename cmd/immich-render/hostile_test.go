package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestConcurrentHostRenders: two --host renders of different hosts into
// one directory at the same time both keep their update. Each writes the
// other hosts' files back as they are on disk, so without the lock held
// from that read to its write, the later write undid the earlier one.
func TestConcurrentHostRenders(t *testing.T) {
	setSecrets(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	mustRun(t, "-q", "-c", fleetConfig(t, dir, "2283", "2284"), "-o", out)
	for i := range 10 {
		a := fleetConfig(t, filepath.Join(mkdir(t, dir, fmt.Sprintf("a%d", i))), fmt.Sprint(3000+i), "2284")
		b := fleetConfig(t, filepath.Join(mkdir(t, dir, fmt.Sprintf("b%d", i))), "2283", fmt.Sprint(4000+i))
		var wg sync.WaitGroup
		codes := make([]int, 2)
		errs := make([]string, 2)
		for j, args := range [][]string{{"-q", "-c", a, "-o", out, "--host", "nas001"}, {"-q", "-c", b, "-o", out, "--host", "nas002"}} {
			wg.Go(func() { codes[j], _, errs[j] = runMain(t, args...) })
		}
		wg.Wait()
		if codes[0] != 0 || codes[1] != 0 {
			t.Fatalf("run %d: exit %v: %q", i, codes, errs)
		}
		for host, port := range map[string]int{"nas001": 3000 + i, "nas002": 4000 + i} {
			compose := read(t, filepath.Join(out, host, "rootfs/opt/podman/immich/docker-compose.yml"))
			if !strings.Contains(compose, fmt.Sprintf(`"%d:2283"`, port)) {
				t.Errorf("run %d: %s lost its update to port %d", i, host, port)
			}
		}
		if code, stdout, _ := runMain(t, "-c", a, "-o", out, "--check", "--host", "nas001"); code != 0 {
			t.Errorf("run %d: --check after both: exit %d\n%s", i, code, stdout)
		}
	}
}

func mkdir(t *testing.T, parent, name string) string {
	t.Helper()
	d := filepath.Join(parent, name)
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}
