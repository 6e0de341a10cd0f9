package bench

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// fakeAge is a stand-in for age: it "encrypts" and "decrypts" by copying
// (optionally corrupting the decrypted copy), enough to drive the peer
// code without the real tool.
const fakeAge = `#!/bin/sh
out= in= dec=
while [ $# -gt 0 ]; do
  case "$1" in
    -o) out="$2"; shift 2 ;;
    -r|-i) shift 2 ;;
    -d) dec=1; shift ;;
    --version) echo v9.9.9; exit 0 ;;
    *) in="$1"; shift ;;
  esac
done
/bin/cp "$in" "$out" || exit 1
if [ -n "$SLACKLOG" ]; then /bin/cat /proc/self/timerslack_ns >> "$SLACKLOG"; fi
if [ -n "$dec" ] && [ -n "$CORRUPT" ]; then printf 'x' | /bin/dd of="$out" bs=1 seek=10 conv=notrunc 2>/dev/null; fi
`

const fakeAgeKeygen = `#!/bin/sh
case "$1" in
  -o) echo "AGE-SECRET-KEY-FAKE" > "$2" ;;
  -y) echo "age1fakerecipient" ;;
esac
`

func fakeTools(t *testing.T) string {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("shell scripts")
	}
	dir := t.TempDir()
	for name, body := range map[string]string{"age": fakeAge, "age-keygen": fakeAgeKeygen} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func testRunner(t *testing.T, size int64, runs int) *runner {
	t.Helper()
	work := t.TempDir()
	r := &runner{cfg: Config{Size: size, WorkDir: work, Runs: runs}, res: &Results{}}
	if err := os.MkdirAll(filepath.Join(work, "input"), 0o700); err != nil {
		t.Fatal(err)
	}
	r.input = filepath.Join(work, "input", "large.bin")
	sum, err := writeRandomFile(r.input, size, 9)
	if err != nil {
		t.Fatal(err)
	}
	r.inputSum = sum
	return r
}

func TestMeasurePeers(t *testing.T) {
	t.Setenv("PATH", fakeTools(t)) // only the fake age: rclone and restic are "missing"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := testRunner(t, 3<<20+5, 3)
	if err := r.measurePeers(ctx); err != nil {
		t.Fatal(err)
	}
	got := map[string]PeerResult{}
	for _, p := range r.res.Peers {
		got[p.Tool+" "+p.Op] = p
	}
	if len(r.res.Peers) != 6 {
		t.Fatalf("%d peer results, want 6: %+v", len(r.res.Peers), r.res.Peers)
	}
	for _, k := range []string{"rclone put", "rclone get", "restic put", "restic get"} {
		p := got[k]
		if p.Installed || !strings.HasPrefix(p.Install, "apt-get install -y ") || p.Transfer.Error != "not installed" {
			t.Errorf("%s: %+v", k, p)
		}
	}
	put, get := got["age put"], got["age get"]
	if !put.Installed || put.Version != "age v9.9.9" || !put.Transfer.OK() || put.Transfer.Bytes != 3<<20+5 {
		t.Errorf("age put: %+v", put)
	}
	if !get.Transfer.OK() || !get.Transfer.Verified {
		t.Errorf("age get: %+v", get)
	}
	for _, p := range []PeerResult{put, get} {
		if rs := p.Transfer.RunSeconds; len(rs) != 3 || slices.Min(rs) <= 0 || p.Transfer.Seconds != median(rs) {
			t.Errorf("age %s: runs %v, reported %v s; want 3 runs and their median", p.Op, rs, p.Transfer.Seconds)
		}
	}
	if _, err := os.Stat(filepath.Join(r.cfg.WorkDir, "peers", "age")); !os.IsNotExist(err) {
		t.Errorf("peer directory left behind: %v", err)
	}
}

// TestPeersRunWithTheirTimerSlack checks that the peers get the slack the
// benchmark was told to give them (the shell's), not the benchmark's own.
func TestPeersRunWithTheirTimerSlack(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("timer slack is Linux's")
	}
	t.Setenv("PATH", fakeTools(t))
	log := filepath.Join(t.TempDir(), "slack")
	t.Setenv("SLACKLOG", log)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := testRunner(t, 1<<20, 1)
	r.cfg.PeerTimerSlack = 77 * time.Microsecond
	if err := r.measurePeers(ctx); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Fields(string(b)); !slices.Equal(got, []string{"77000", "77000"}) {
		t.Errorf("age put and get ran with timer slacks %q ns, want 77000 each", got)
	}
}

func TestMeasurePeersDetectsCorruption(t *testing.T) {
	t.Setenv("PATH", fakeTools(t))
	t.Setenv("CORRUPT", "1")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := testRunner(t, 1<<20, 2)
	if err := r.measurePeers(ctx); err != nil {
		t.Fatal(err)
	}
	for _, p := range r.res.Peers {
		if p.Tool == "age" && p.Op == OpGet {
			if p.Transfer.Verified || !strings.Contains(p.Transfer.Error, "differs") || !strings.HasPrefix(p.Transfer.Error, "run 1 of 2: ") {
				t.Fatalf("corrupted output accepted: %+v", p.Transfer)
			}
			if len(r.res.Notes) == 0 {
				t.Fatal("no note about the failure")
			}
			return
		}
	}
	t.Fatal("no age get result")
}

func TestWriteSmallFiles(t *testing.T) {
	dir := t.TempDir()
	folders, err := writeSmallFiles(dir, 250, 4096, 100)
	if err != nil || folders != 3 {
		t.Fatalf("folders %d, %v", folders, err)
	}
	seen := map[string]bool{}
	n := 0
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil || len(b) != 4096 {
			t.Fatalf("%s: %d bytes, %v", p, len(b), err)
		}
		seen[string(b)] = true
		n++
		return nil
	})
	if err != nil || n != 250 || len(seen) != 250 {
		t.Fatalf("%d files, %d distinct, %v", n, len(seen), err)
	}
}

func TestWriteRandomFileHash(t *testing.T) {
	dir := t.TempDir()
	a, err := writeRandomFile(filepath.Join(dir, "a"), 3<<20+1, 1)
	if err != nil {
		t.Fatal(err)
	}
	h, err := hashFile(filepath.Join(dir, "a"))
	if err != nil || h != a {
		t.Fatalf("hash of the written file differs: %v", err)
	}
	b, err := writeRandomFile(filepath.Join(dir, "b"), 3<<20+1, 2)
	if err != nil || a == b {
		t.Fatalf("seeds give the same bytes: %v", err)
	}
}
