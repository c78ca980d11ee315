// Command writefiles is the floor for writing a rendered tree: it writes
// the same number of files, of the same sizes, at the same paths, and does
// nothing else (no templates, no validation, no comparison). The list is
// "SIZE PATH" lines, as `find DIR -type f -printf '%s %P\n'` prints them.
//
// -sync none writes each file with os.WriteFile, as a minimal program
// would. -sync file also does what a crash-safe writer must: each file is
// written to a temporary name, fsynced and renamed into place, as
// immich-render's output package does.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

func main() {
	list := flag.String("list", "", "`FILE` of \"SIZE PATH\" lines")
	out := flag.String("o", "", "output `DIR` (must not exist)")
	sync := flag.String("sync", "none", "none or file")
	flag.Parse()
	if *list == "" || *out == "" || (*sync != "none" && *sync != "file") {
		fmt.Fprintln(os.Stderr, "usage: writefiles -list FILE -o DIR [-sync none|file]")
		os.Exit(2)
	}
	f, err := os.Open(*list)
	must(err)
	defer f.Close()
	dirs := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		size, rel, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(size)
		must(err)
		p := filepath.Join(*out, filepath.FromSlash(rel))
		if d := filepath.Dir(p); !dirs[d] {
			must(os.MkdirAll(d, 0o755))
			dirs[d] = true
		}
		data := bytes.Repeat([]byte{'x'}, n)
		if *sync == "none" {
			must(os.WriteFile(p, data, 0o644))
			continue
		}
		tmp := p + ".tmp"
		w, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		must(err)
		_, err = w.Write(data)
		must(err)
		must(w.Sync())
		must(w.Close())
		must(os.Rename(tmp, p))
	}
	must(sc.Err())
	if *sync == "file" {
		for d := range dirs {
			df, err := os.Open(d)
			must(err)
			must(df.Sync())
			df.Close()
		}
	}
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "writefiles:", err)
		os.Exit(1)
	}
}
