package rehearsal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// machine is a Debian 13 host booted with systemd-nspawn: systemd is its
// PID 1, it has a private network (loopback only, and the bridges Podman
// makes inside), and nothing of it outlives the test.
type machine struct {
	t    *testing.T
	name string
	root string // its root filesystem, extracted fresh for this machine
	log  string // systemd-nspawn's console output
	cmd  *exec.Cmd
	pid  int // the machine's PID 1 (systemd), as seen from here
	done chan error
}

// newRoot extracts a fresh Debian 13 root filesystem (scripts/debian13-rootfs.sh
// builds and caches it on first use) and removes it at the end of the test.
func newRoot(t *testing.T) string {
	t.Helper()
	parent, err := os.MkdirTemp("/var/tmp", "immich-debian13-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(parent); err != nil {
			t.Errorf("removing %s: %v", parent, err)
		}
	})
	if err := os.WriteFile(filepath.Join(parent, "owner"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(parent, "root")
	cmd := exec.Command("../../scripts/debian13-rootfs.sh", root)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/debian13-rootfs.sh: %v\n%s", err, out)
	}
	return root
}

// boot starts systemd-nspawn on root and waits until systemd inside reports
// the system running. The flags are the ones this machine kind needs: no
// registration (no systemd on the machine), the unified cgroup hierarchy
// (crun and Podman 5 need it), and bpf and keyrings allowed (crun uses both).
func boot(t *testing.T, root, name string) (*machine, error) {
	t.Helper()
	m := &machine{t: t, name: name, root: root, log: root + ".console.log"}
	if err := m.start(); err != nil {
		return nil, err
	}
	t.Cleanup(func() {
		if err := m.stop(); err != nil {
			t.Error(err)
		}
	})
	return m, m.waitRunning()
}

// start starts systemd-nspawn, its output appended to the console log.
func (m *machine) start() error {
	logf, err := os.OpenFile(m.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	// timeout: a machine that a killed test could not stop ends anyway.
	m.cmd = exec.Command("timeout", "-s", "KILL", "1800", "systemd-nspawn", "-D", m.root, "--register=no", "--keep-unit",
		"--private-network", "--system-call-filter=bpf @keyring", "--console=passive", "-M", m.name, "-b")
	m.cmd.Env = append(os.Environ(), "SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1")
	m.cmd.Stdout, m.cmd.Stderr = logf, logf
	// Its own session, and a SIGTERM (a clean shutdown; timeout passes it
	// on) when this test process dies, also on a timeout or an interrupt.
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGTERM}
	if err := m.cmd.Start(); err != nil {
		return err
	}
	m.done = make(chan error, 1)
	go func() { m.done <- m.cmd.Wait() }()
	return nil
}

// waitRunning finds the machine's systemd and waits for the boot to end.
func (m *machine) waitRunning() error {
	deadline := time.Now().Add(60 * time.Second)
	for m.pid == 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("no systemd in the machine after 60s:\n%s", m.console())
		}
		select {
		case err := <-m.done:
			m.done <- err
			return fmt.Errorf("systemd-nspawn exited: %v\n%s", err, m.console())
		case <-time.After(100 * time.Millisecond):
		}
		m.pid = findInit(m.cmd.Process.Pid)
	}
	var out string
	var err error
	for {
		out, err = m.enter(2*time.Minute, "systemctl", "is-system-running", "--wait")
		// Before its bus is up, systemctl cannot connect or says "offline".
		if (!strings.Contains(out, "Failed to connect") && strings.TrimSpace(out) != "offline") || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	state := strings.TrimSpace(out)
	if state == "running" {
		return nil
	}
	failed, _ := m.enter(time.Minute, "systemctl", "list-units", "--failed", "--no-pager", "--plain", "--no-legend")
	if state == "degraded" && podmanHealthchecksOnly(failed) {
		// A container's healthcheck runs as a transient unit, which fails
		// while the container is still starting: Podman's way, not a
		// failure of the boot.
		return nil
	}
	return fmt.Errorf("the machine's state after boot is %q (%v); failed units:\n%s", state, err, failed)
}

// podmanHealthchecksOnly reports whether every failed unit listed is a
// Podman healthcheck run.
func podmanHealthchecksOnly(failed string) bool {
	n := 0
	for _, l := range strings.Split(strings.TrimSpace(failed), "\n") {
		if l = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "●")); l == "" {
			continue
		}
		n++
		if !strings.Contains(l, "/usr/bin/podman healthcheck run ") {
			return false
		}
	}
	return n > 0
}

// findInit returns the PID of the systemd that systemd-nspawn (under
// timeout) started as the machine's PID 1, or 0.
func findInit(top int) int {
	queue := []int{top}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if strings.TrimSpace(string(comm)) == "systemd" {
			return pid
		}
		children, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
		for _, f := range strings.Fields(string(children)) {
			if c, err := strconv.Atoi(f); err == nil {
				queue = append(queue, c)
			}
		}
	}
	return 0
}

func (m *machine) console() string {
	data, _ := os.ReadFile(m.log)
	if len(data) > 8000 {
		data = data[len(data)-8000:]
	}
	return string(data)
}

// enter runs a command in the machine's namespaces as a root shell there
// would (an operator's ssh session): not under systemd, so with this
// process's capabilities. Checks go through systemd instead (sysrun).
func (m *machine) enter(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	nsargs := append([]string{"-t", strconv.Itoa(m.pid), "-m", "-u", "-i", "-n", "-p", "-C", "-r", "-w", "--",
		"/usr/bin/env", "-i", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "HOME=/root"}, args...)
	cmd := exec.CommandContext(ctx, "nsenter", nsargs...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %s", timeout)
	}
	if err != nil {
		return out.String(), fmt.Errorf("%q in the machine: %v\n%s", args, err, out.String())
	}
	return out.String(), nil
}

// shell runs a shell script in the machine as root (see enter).
func (m *machine) shell(script string) (string, error) {
	return m.enter(5*time.Minute, "/bin/sh", "-ec", script)
}

// sysrun runs a command as a transient systemd service in the machine and
// waits for it: what a unit gets (its cgroup, no terminal, systemd's
// environment), not what this shell has. props are unit properties
// (User=tenant, Environment=...).
func (m *machine) sysrun(props []string, args ...string) (string, error) {
	a := []string{"systemd-run", "--wait", "--pipe", "--quiet", "--collect", "--service-type=exec"}
	for _, p := range props {
		a = append(a, "-p", p)
	}
	return m.enter(5*time.Minute, append(append(a, "--"), args...)...)
}

// sysrunSh runs a shell script under systemd-run (see sysrun).
func (m *machine) sysrunSh(script string, props ...string) (string, error) {
	return m.sysrun(props, "/bin/sh", "-ec", script)
}

// stop shuts the machine down (SIGTERM to systemd-nspawn: a clean
// poweroff, about a second) and kills it after 30 s; then nothing of it
// runs: its PID 1 gone, its namespaces (network, mounts) go with it.
func (m *machine) stop() error {
	if m.cmd == nil || m.cmd.Process == nil {
		return nil
	}
	select {
	case err := <-m.done:
		m.done <- err
	default:
		syscall.Kill(m.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case err := <-m.done:
			m.done <- err
		case <-time.After(30 * time.Second):
			syscall.Kill(-m.cmd.Process.Pid, syscall.SIGKILL)
			if m.pid != 0 {
				syscall.Kill(m.pid, syscall.SIGKILL)
			}
			err := <-m.done
			m.done <- err
		}
	}
	pid := m.pid
	m.pid = 0
	if pid != 0 {
		for range 100 {
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); errors.Is(err, os.ErrNotExist) {
				return nil
			}
			time.Sleep(100 * time.Millisecond)
		}
		syscall.Kill(pid, syscall.SIGKILL)
		return fmt.Errorf("the machine's PID 1 (%d) outlived systemd-nspawn", pid)
	}
	return nil
}

// reboot stops the machine and boots it again from the same root, as a
// power cycle of the host does.
func (m *machine) reboot() error {
	if err := m.stop(); err != nil {
		return err
	}
	if err := m.start(); err != nil {
		return err
	}
	return m.waitRunning()
}
