package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nuage-storage/nuage/internal/bench"
)

// TestBenchCommand runs a small but complete `nuage bench`: a real network
// in this process, the client in child processes of the test binary (which
// TestMain turns into nuage when argv[0] is "nuage"), and checks the three
// result files.
func TestBenchCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a network and a dozen client processes")
	}
	out := filepath.Join(t.TempDir(), "results")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"bench", "--size", "8MiB", "--runs", "2", "--small-files", "50", "--peers=false", "--out", out,
		"--dir", t.TempDir(), "--stage-time", "30ms"}, strings.NewReader(""), &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit %d\nstderr:\n%s", code, stderr.String())
	}
	for _, name := range []string{"bench.md", "bench.json", "bench.svg"} {
		if st, err := os.Stat(filepath.Join(out, name)); err != nil || st.Size() == 0 {
			t.Fatalf("%s: %v", name, err)
		}
	}
	md, _ := os.ReadFile(filepath.Join(out, "bench.md"))
	if !bytes.Equal(md, stdout.Bytes()) || !strings.Contains(string(md), "| put | `nuage put` |") || !strings.Contains(string(md), "Each transfer ran 2 times") {
		t.Errorf("stdout is not the Markdown table:\n%s", stdout.String())
	}
	if !strings.Contains(stderr.String(), "bench: nuage put of 8 MiB (run 2 of 2)") {
		t.Errorf("no progress on stderr:\n%s", stderr.String())
	}

	b, err := os.ReadFile(filepath.Join(out, "bench.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res bench.Results
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&res); err != nil {
		t.Fatalf("bench.json: %v", err)
	}
	n := res.Nuage
	switch {
	case res.Schema != bench.SchemaVersion || !strings.HasPrefix(res.Command, "nuage bench --size=8MiB"):
		t.Errorf("header: schema %d command %q", res.Schema, res.Command)
	case res.Setup.Size != 8<<20 || res.Setup.Nodes != 6 || res.Setup.K != 4 || res.Setup.N != 6 || res.Setup.SmallFiles != 50 || res.Setup.Peers || res.Setup.Runs != 2:
		t.Errorf("setup: %+v", res.Setup)
	case !n.Put.OK() || n.Put.MBps <= 0 || n.Put.CPUSeconds <= 0 || n.Put.PeakRSS <= 0 || len(n.Put.RunSeconds) != 2:
		t.Errorf("put: %+v", n.Put)
	case !n.Get.OK() || !n.Get.Verified || n.Get.MBps <= 0 || n.Get.PeakRSS <= 0 || len(n.Get.RunSeconds) != 2:
		t.Errorf("get: %+v", n.Get)
	case n.FirstByte.Error != "" || n.FirstByte.Runs != bench.LatencyRuns || n.FirstByte.FirstByteSeconds <= 0:
		t.Errorf("first byte: %+v", n.FirstByte)
	case n.Range.Error != "" || n.Range.Length != 1<<20 || n.Range.FirstByteSeconds <= 0 || n.Range.TotalSeconds < n.Range.FirstByteSeconds:
		t.Errorf("range: %+v", n.Range)
	case n.SmallPut.Error != "" || n.SmallPut.Files != 50 || n.SmallPut.FilesPerSecond <= 0:
		t.Errorf("small put: %+v", n.SmallPut)
	case n.SmallList.Error != "" || n.SmallList.Files != 50 || n.SmallList.FilesPerSecond <= 0:
		t.Errorf("small list: %+v", n.SmallList)
	case len(res.Ceilings.Stages) != 6 || res.Ceilings.Put.MBps <= 0 || res.Ceilings.Get.MBps <= 0 || res.Ceilings.Error != "":
		t.Errorf("ceilings: %+v", res.Ceilings)
	case len(res.Peers) != 0:
		t.Errorf("peers ran with --peers=false: %+v", res.Peers)
	}

	svg, _ := os.ReadFile(filepath.Join(out, "bench.svg"))
	d := xml.NewDecoder(bytes.NewReader(svg))
	for {
		_, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("bench.svg is not well-formed: %v", err)
		}
	}
}

func TestBenchCommandUsage(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "--size", "1KiB", "--dir", t.TempDir()},
		{"bench", "--k", "4", "--dir", t.TempDir()},
		{"bench", "extra"},
		{"bench", "--runs", "0", "--dir", t.TempDir()},
		{"bench", "--runs", "21", "--dir", t.TempDir()},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), args, strings.NewReader(""), &stdout, &stderr); code != exitUsage {
			t.Errorf("%v: exit %d, want %d\n%s", args, code, exitUsage, stderr.String())
		}
	}
}

func TestBenchClientNeedsSession(t *testing.T) {
	t.Setenv("NUAGE_CONFIG", t.TempDir())
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"bench-client"}, strings.NewReader(`{"op":"list","path":"/"}`), &stdout, &stderr)
	if code != exitAuth || !strings.Contains(stderr.String(), "not logged in") {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
}

func TestSizeArg(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{{1 << 30, "1GiB"}, {8 << 20, "8MiB"}, {3 << 29, "1536MiB"}, {4096, "4KiB"}, {1000, "1000"}, {5 << 40, "5TiB"}} {
		if got := sizeArg(tc.n); got != tc.want {
			t.Errorf("sizeArg(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}
