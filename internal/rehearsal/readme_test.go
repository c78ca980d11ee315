package rehearsal

import (
	"strings"
	"testing"
)

// The output README's deploy steps are its ```sh fenced blocks, one
// command per line, in order (render/readme.go keeps to this): the
// rehearsal runs them verbatim. A block whose every command is an rsync
// runs where out/ and secrets/ are (the operator's machine), with
// root@HOST: meaning the host; any other block runs on the host as root.

// readmeBlock is one ```sh block of the README, with the headings it is under.
type readmeBlock struct {
	Section, Subsection string // "## Deploy", "### First deployment"
	Lines               []string
}

// shBlocks returns the ```sh blocks under the headings that start with
// section (a "## " heading) and subsection (a "### " heading; "" for
// any), in order.
func shBlocks(md, section, subsection string) []readmeBlock {
	var blocks []readmeBlock
	var sec, sub string
	var cur *readmeBlock
	for _, l := range strings.Split(md, "\n") {
		if cur != nil {
			if strings.TrimSpace(l) == "```" {
				if strings.HasPrefix(sec, section) && strings.HasPrefix(sub, subsection) {
					blocks = append(blocks, *cur)
				}
				cur = nil
				continue
			}
			cur.Lines = append(cur.Lines, l)
			continue
		}
		switch {
		case strings.HasPrefix(l, "## "):
			sec, sub = l, ""
		case strings.HasPrefix(l, "### "):
			sub = l
		case strings.TrimSpace(l) == "```sh":
			cur = &readmeBlock{Section: sec, Subsection: sub}
		}
	}
	return blocks
}

// commands are the block's command lines, without blank lines and comments.
func (b readmeBlock) commands() []string {
	var cmds []string
	for _, l := range b.Lines {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			cmds = append(cmds, l)
		}
	}
	return cmds
}

// local reports whether the block runs on the operator's machine.
func (b readmeBlock) local() bool {
	cmds := b.commands()
	for _, c := range cmds {
		if !strings.HasPrefix(c, "rsync ") {
			return false
		}
	}
	return len(cmds) > 0
}

func TestShBlocks(t *testing.T) {
	md := "# T\n\n## Deploy\n\n### First deployment\n\n```sh\nrsync -a out/ root@HOST:/\n```\n\n" +
		"   ```sh\n   # a comment\n   systemctl daemon-reload\n\n   systemctl start x\n   ```\n\n" +
		"```\nnot sh\n```\n\n### Manage\n\n```sh\nsystemctl status x\n```\n\n## Backups\n\n```sh\nsystemctl start b\n```\n"
	blocks := shBlocks(md, "## Deploy", "### First")
	if len(blocks) != 2 {
		t.Fatalf("got %d blocks, want 2: %q", len(blocks), blocks)
	}
	if !blocks[0].local() || blocks[1].local() {
		t.Errorf("local() = %v, %v; want true, false", blocks[0].local(), blocks[1].local())
	}
	if got := strings.Join(blocks[1].commands(), ";"); got != "systemctl daemon-reload;systemctl start x" {
		t.Errorf("commands() = %q", got)
	}
	if got := shBlocks(md, "## Backups", ""); len(got) != 1 || got[0].commands()[0] != "systemctl start b" {
		t.Errorf("Backups: %q", got)
	}
	if got := shBlocks(md, "## Deploy", ""); len(got) != 3 {
		t.Errorf("all of Deploy: %d blocks, want 3", len(got))
	}
}
