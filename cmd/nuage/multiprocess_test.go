package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nuage-storage/nuage/internal/timerslack"
)

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// threadSlacks returns the timer slack of every thread of process pid.
func threadSlacks(t *testing.T, pid int) map[int]time.Duration {
	t.Helper()
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		t.Fatal(err)
	}
	slacks := map[int]time.Duration{}
	for _, task := range tasks {
		tid, err := strconv.Atoi(task.Name())
		if err != nil {
			continue
		}
		// Linux lists timerslack_ns under /proc/TID, not under task/TID.
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/timerslack_ns", tid))
		if errors.Is(err, fs.ErrNotExist) {
			continue // the thread ended meanwhile
		}
		if err != nil {
			t.Fatal(err)
		}
		ns, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		slacks[tid] = time.Duration(ns)
	}
	if len(slacks) < 2 {
		t.Fatalf("process %d has %d threads; the Go runtime alone starts two", pid, len(slacks))
	}
	return slacks
}

// TestMultiProcessNetwork runs the real thing: `nuage serve --nodes 0` and
// six `nuage node` processes, stores files, SIGKILLs two nodes, corrupts a
// third node's pieces, and reads every file back intact.
func TestMultiProcessNetwork(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs 7 processes")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "nuage")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	// One node keeps the timer slack it inherits; the others raise theirs.
	extraEnv := map[string][]string{"node0": {timerslack.Env + "=off"}}
	start := func(name string, args ...string) (*exec.Cmd, *bufio.Scanner) {
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = append(os.Environ(), "NUAGE_PASSWORD=", "NUAGE_CONFIG="+filepath.Join(dir, "cfg"))
		cmd.Env = append(cmd.Env, extraEnv[name]...)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			if t.Failed() {
				t.Logf("%s stderr:\n%s", name, stderr.String())
			}
		})
		return cmd, bufio.NewScanner(out)
	}
	coordAddr := freeAddr(t)
	coord, sc := start("coordinator", "serve", "--nodes", "0", "--listen", coordAddr, "--data", filepath.Join(dir, "coord"))
	if !sc.Scan() || !strings.Contains(sc.Text(), "listening on") {
		t.Fatalf("serve did not report its address: %q", sc.Text())
	}
	drain := func(sc *bufio.Scanner) {
		go func() {
			for sc.Scan() {
			}
		}()
	}
	drain(sc)
	url := "http://" + coordAddr
	nodes := make([]*exec.Cmd, 6)
	for i := range nodes {
		var nsc *bufio.Scanner
		nodes[i], nsc = start(fmt.Sprintf("node%d", i), "node", "--coordinator", url, "--listen", freeAddr(t),
			"--data", filepath.Join(dir, fmt.Sprintf("node%d", i)), "--capacity", "1GiB")
		if !nsc.Scan() || !strings.Contains(nsc.Text(), "storage node") {
			t.Fatalf("node %d did not start: %q", i, nsc.Text())
		}
		drain(nsc)
	}
	if runtime.GOOS == "linux" {
		inherited := timerslack.Current()
		for _, p := range []struct {
			name string
			cmd  *exec.Cmd
			want time.Duration
		}{{"serve", coord, max(timerslack.Default, inherited)}, {"node 1", nodes[1], max(timerslack.Default, inherited)}, {"node 0 (" + timerslack.Env + "=off)", nodes[0], inherited}} {
			for tid, got := range threadSlacks(t, p.cmd.Process.Pid) {
				if got != p.want {
					t.Errorf("%s: thread %d has a timer slack of %v, want %v", p.name, tid, got, p.want)
				}
			}
			// Executed again, the process keeps its name (not "exe").
			if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p.cmd.Process.Pid)); err != nil || strings.TrimSpace(string(b)) != "nuage" {
				t.Errorf("%s: the process is named %q (%v), want nuage", p.name, b, err)
			}
		}
	}
	nuage := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = append(os.Environ(), "NUAGE_PASSWORD=multi-process test password",
			"NUAGE_CONFIG="+filepath.Join(dir, "cfg"), "NUAGE_SERVER="+url)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	// Nodes check in on start; wait until uploads find all six.
	if out, err := nuage("signup", "multi@example.org"); err != nil {
		t.Fatalf("signup: %v\n%s", err, out)
	}
	files := map[string][]byte{}
	for i, size := range []int{10, 100000, 40<<20 + 12345} {
		b := make([]byte, size)
		rand.Read(b)
		name := filepath.Join(dir, fmt.Sprintf("in%d", i))
		if err := os.WriteFile(name, b, 0o600); err != nil {
			t.Fatal(err)
		}
		files[name] = b
		var out string
		var err error
		for try := 0; try < 50; try++ { // the nodes may still be checking in
			if out, err = nuage("put", name, fmt.Sprintf("/f%d", i)); err == nil || !strings.Contains(out, "storage nodes are online") {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("put %d bytes: %v\n%s", size, err, out)
		}
		if strings.Contains(out, "reduced redundancy") {
			t.Fatalf("upload with all nodes up stored fewer pieces than wanted:\n%s", out)
		}
	}
	check := func(when string) {
		t.Helper()
		for i := range len(files) {
			name := filepath.Join(dir, fmt.Sprintf("in%d", i))
			got := filepath.Join(dir, fmt.Sprintf("out%d", i))
			os.Remove(got)
			if out, err := nuage("get", fmt.Sprintf("/f%d", i), got); err != nil {
				t.Fatalf("%s: get /f%d: %v\n%s", when, i, err, out)
			}
			b, err := os.ReadFile(got)
			if err != nil || !bytes.Equal(b, files[name]) {
				t.Fatalf("%s: /f%d differs", when, i)
			}
		}
	}
	check("all nodes up")

	// SIGKILL two nodes: every file must still read back.
	for _, i := range []int{1, 4} {
		if err := nodes[i].Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = nodes[i].Wait()
	}
	check("2 nodes killed")

	// Corrupt one more node's pieces: still n-k = 2 losses in total, readable.
	corrupted := 0
	filepath.WalkDir(filepath.Join(dir, "node2"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && len(d.Name()) == 64 {
			b, _ := os.ReadFile(p)
			for j := 0; j < len(b); j += 4096 {
				b[j] ^= 0xff
			}
			os.WriteFile(p, b, 0o600)
			corrupted++
		}
		return nil
	})
	if corrupted == 0 {
		t.Fatal("node2 has no pieces")
	}
	// Two nodes down and a third corrupt: only 3 good pieces of each
	// segment remain, fewer than k = 4. The get must fail clearly and never
	// produce a file.
	got := filepath.Join(dir, "out-bad")
	out, err := nuage("get", "/f2", got)
	if err == nil {
		t.Fatalf("get with 3 of 6 pieces lost succeeded:\n%s", out)
	}
	if !strings.Contains(out, "error:") || !strings.Contains(out, "pieces readable") {
		t.Fatalf("unclear error:\n%s", out)
	}
	if _, err := os.Stat(got); err == nil {
		t.Fatal("a failed get left a file behind")
	}
	// The inline file never touches a node and still reads.
	if out, err := nuage("cat", "/f0"); err != nil || out != string(files[filepath.Join(dir, "in0")]) {
		t.Fatalf("inline file: %v\n%s", err, out)
	}
}
