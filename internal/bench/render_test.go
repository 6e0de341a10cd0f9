package bench

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"time"
)

// sampleResults is a complete, plausible run with every kind of row: a
// measured peer, a missing one, a failed one.
func sampleResults() *Results {
	stages := []Stage{
		{Name: StageAES, Label: "AES", Bytes: 1 << 30, Seconds: 0.2, CPUSeconds: 0.2, MBps: 5368},
		{Name: StageRS, Label: "RS <4-of-6>", Bytes: 1 << 30, Seconds: 0.05, CPUSeconds: 0.09, MBps: 21474},
		{Name: StageBLAKE3, Label: "BLAKE3", Bytes: 1 << 30, Seconds: 0.33, CPUSeconds: 0.33, MBps: 3253},
		{Name: StageTLS, Label: "TLS", Bytes: 1 << 30, Seconds: 0.9, CPUSeconds: 1.5, MBps: 1193},
		{Name: StageDisk, Label: "disk", Bytes: 3 << 29, Seconds: 1.2, CPUSeconds: 0.6, MBps: 1342},
	}
	stages, put, get := pipeline(stages, 4, 6, 2)
	return &Results{
		Schema:    SchemaVersion,
		Started:   time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC),
		Seconds:   321,
		Command:   "nuage bench --size=1GiB",
		Machine:   Machine{CPU: "Test CPU", Cores: 2, MemoryBytes: 24 << 30, OS: "linux", Arch: "amd64", Kernel: "Linux 6.1", Go: "go1.26", Filesystem: "ext4", TimerSlackNS: 1e6, PeerTimerSlackNS: 50e3},
		LoadStart: 0.4, LoadEnd: 1.9,
		Setup: Setup{Size: 1 << 30, Nodes: 6, K: 4, N: 6, SegmentSize: 16 << 20, BlockSize: 65536, SmallFiles: 10000, SmallFileSize: 4096, RangeSize: 1 << 20, Peers: true, Runs: 3},
		Nuage: Nuage{
			Put:       Transfer{Bytes: 1 << 30, Seconds: 5, MBps: 214.7, CPUSeconds: 9, CPUPerGiB: 9, PeakRSS: 120 << 20, ServerCPUPerGiB: 4, RunSeconds: []float64{5.5, 5, 4}},
			Get:       Transfer{Bytes: 1 << 30, Seconds: 3, MBps: 357.9, CPUSeconds: 6, CPUPerGiB: 6, PeakRSS: 130 << 20, ServerCPUPerGiB: 2, Verified: true},
			FirstByte: Latency{Runs: 3, FirstByteSeconds: 0.21, Length: 1 << 30},
			Range:     Latency{Runs: 3, FirstByteSeconds: 0.08, TotalSeconds: 0.081, Offset: 1<<29 - 1<<19, Length: 1 << 20},
			SmallPut:  FileRate{Files: 10000, Folders: 100, Seconds: 200, FilesPerSecond: 50, PeakRSS: 60 << 20},
			SmallList: FileRate{Files: 10000, Folders: 100, Error: "listed 9999 files | in 100 folders"},
		},
		Ceilings: Ceilings{Stages: stages, Put: put, Get: get, Model: Model},
		Peers: []PeerResult{
			{Tool: "rclone", Version: "rclone v1.60", Op: OpPut, Label: "rclone copy → crypt", Installed: true, Transfer: Transfer{Bytes: 1 << 30, Seconds: 6, MBps: 178.9, PeakRSS: 78 << 20}},
			{Tool: "rclone", Version: "rclone v1.60", Op: OpGet, Label: "rclone copy ← crypt", Installed: true, Transfer: Transfer{Error: "exit status 1: <boom> & more"}},
			{Tool: "restic", Op: OpPut, Label: "restic backup", Install: "apt-get install -y restic", Transfer: Transfer{Error: "not installed"}},
			{Tool: "restic", Op: OpGet, Label: "restic restore", Install: "apt-get install -y restic", Transfer: Transfer{Error: "not installed"}},
		},
		Notes: []string{"a note\nover two lines"},
	}
}

func TestWriteMarkdown(t *testing.T) {
	var b bytes.Buffer
	if err := WriteMarkdown(&b, sampleResults()); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"Command: `nuage bench --size=1GiB`",
		"Test CPU, 2 cores, 24 GiB RAM, Linux 6.1 amd64, go1.26, work directory on ext4, timer slack 1 ms (peers 50 µs)",
		"| put | `nuage put` | 215 | 5.00 s (4.00 s–5.50 s) | 9.00 | 120 MiB | 1.00× | 4.00 |",
		"| get | `nuage get` | 358 | 3.00 s | 6.00 |",
		"Each transfer ran 3 times",
		"| put | rclone copy → crypt (rclone v1.60) | 179 | 6.00 s |",
		"0.83×",
		"| get | rclone copy ← crypt (rclone v1.60) | failed: exit status 1: <boom> & more |",
		"| put | restic backup | not installed: `apt-get install -y restic` |",
		"| whole file (`nuage get`) | 210 ms | |",
		"| 1 MiB from the middle (offset 536346624) | 80 ms | 81 ms |",
		"| recursive put (`nuage put -r`) | 50 | 200 s | 60 MiB |",
		`failed: listed 9999 files \| in 100 folders`,
		"- a note over two lines",
		"- model: " + Model,
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md)
		}
	}
	// Every row of a table has as many cells as its header.
	cols := 0
	for _, line := range strings.Split(md, "\n") {
		if !strings.HasPrefix(line, "|") {
			cols = 0
			continue
		}
		n := strings.Count(strings.ReplaceAll(line, `\|`, ""), "|")
		if cols == 0 {
			cols = n
		} else if n != cols {
			t.Errorf("row has %d separators, header %d: %s", n, cols, line)
		}
	}
}

func TestWriteSVG(t *testing.T) {
	r := sampleResults()
	var b bytes.Buffer
	if err := WriteSVG(&b, r); err != nil {
		t.Fatal(err)
	}
	svg := b.String()
	// Well-formed XML, and one bar (a rect with a title) per figure:
	// nuage, the ceiling and the measured peer in each group where they
	// have figures.
	dec := xml.NewDecoder(&b)
	bars, texts := 0, []string{}
	inText := false
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			if e.Name.Local == "rect" {
				for _, a := range e.Attr {
					if a.Name.Local == "fill" && a.Value != "#ffffff" {
						bars++
					}
				}
			}
			inText = e.Name.Local == "text"
		case xml.CharData:
			if inText {
				texts = append(texts, string(e))
			}
		case xml.EndElement:
			inText = false
		}
	}
	if !strings.Contains(svg, "<title>nuage put: runs from 195 to 268 MB/s</title>") {
		t.Errorf("SVG has no whisker for nuage put's runs:\n%s", svg)
	}
	// Legend swatches (5) + put: nuage, rclone, ceiling + get: nuage, ceiling.
	if want := 5 + 3 + 2; bars != want {
		t.Errorf("%d filled rects, want %d", bars, want)
	}
	all := strings.Join(texts, "\n")
	for _, want := range []string{"nuage put", "215 MB/s", "rclone copy → crypt", "179 MB/s", "not installed (apt-get install -y restic)", "failed", "ceiling of this machine",
		"median of 3 runs"} {
		if !strings.Contains(all, want) {
			t.Errorf("SVG text lacks %q", want)
		}
	}
}

func TestNiceMax(t *testing.T) {
	for _, tc := range []struct{ in, want float64 }{
		{0, 1}, {-3, 1}, {math.NaN(), 1}, {1, 1}, {1.2, 2}, {2.2, 2.5}, {3, 5}, {7, 10}, {420, 500}, {1000, 1000}, {1001, 2000},
	} {
		if got := niceMax(tc.in); got != tc.want {
			t.Errorf("niceMax(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestResultsJSONFields(t *testing.T) {
	b, err := json.Marshal(sampleResults())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	// The field names are an interface: scripts read bench.json.
	for _, path := range [][]string{
		{"schema"}, {"command"}, {"machine", "cores"}, {"setup", "k"},
		{"nuage", "put", "mb_per_s"}, {"nuage", "put", "cpu_seconds_per_gib"}, {"nuage", "put", "peak_rss_bytes"},
		{"nuage", "get", "verified"}, {"nuage", "first_byte", "first_byte_seconds"}, {"nuage", "range", "total_seconds"},
		{"nuage", "small_put", "files_per_s"}, {"ceilings", "put", "mb_per_s"}, {"ceilings", "get", "bound"}, {"ceilings", "model"},
	} {
		var v any = m
		for _, k := range path {
			obj, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("%v: not an object", path)
			}
			if v, ok = obj[k]; !ok {
				t.Fatalf("bench.json lacks %s", strings.Join(path, "."))
			}
		}
	}
	var back Results
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Ceilings.Put != sampleResults().Ceilings.Put || len(back.Peers) != 4 {
		t.Fatal("results do not survive a JSON round trip")
	}
}

func TestFormatting(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{{0, "0 B"}, {1023, "1023 B"}, {1024, "1 KiB"}, {1536, "1.5 KiB"}, {16 << 20, "16 MiB"}, {1 << 30, "1 GiB"}, {3 << 29, "1.5 GiB"}} {
		if got := formatBytes(tc.n); got != tc.want {
			t.Errorf("formatBytes(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
	for _, tc := range []struct {
		v    float64
		want string
	}{{0, "—"}, {-1, "—"}, {3.14159, "3.14"}, {42.42, "42.4"}, {1234.5, "1234"}} {
		if got := formatRate(tc.v); got != tc.want {
			t.Errorf("formatRate(%v) = %q, want %q", tc.v, got, tc.want)
		}
	}
	for _, tc := range []struct {
		s    float64
		want string
	}{{0, "—"}, {0.0123, "12 ms"}, {2.3456, "2.35 s"}, {250, "250 s"}} {
		if got := formatSeconds(tc.s); got != tc.want {
			t.Errorf("formatSeconds(%v) = %q, want %q", tc.s, got, tc.want)
		}
	}
	long := strings.Repeat("é", 400)
	if c := cell(long); !strings.HasSuffix(c, "…") || !utf8Valid(c) {
		t.Errorf("cell cut a rune: %q", c[len(c)-8:])
	}
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

func TestMachineLineSlack(t *testing.T) {
	for _, c := range []struct {
		m    Machine
		want string
	}{
		{Machine{Cores: 2, OS: "linux", Arch: "amd64", Go: "go1.26"}, "2 cores, linux amd64, go1.26"},
		{Machine{Cores: 2, OS: "linux", Arch: "amd64", Go: "go1.26", TimerSlackNS: 1e6, PeerTimerSlackNS: 1e6}, "2 cores, linux amd64, go1.26, timer slack 1 ms"},
		{Machine{Cores: 2, OS: "linux", Arch: "amd64", Go: "go1.26", TimerSlackNS: 250e3, PeerTimerSlackNS: 50e3}, "2 cores, linux amd64, go1.26, timer slack 250 µs (peers 50 µs)"},
		{Machine{Cores: 2, OS: "linux", Arch: "amd64", Go: "go1.26", TimerSlackNS: 1500, PeerTimerSlackNS: 50e3}, "2 cores, linux amd64, go1.26, timer slack 1500 ns (peers 50 µs)"},
	} {
		if got := machineLine(c.m); got != c.want {
			t.Errorf("machineLine(%+v) = %q, want %q", c.m, got, c.want)
		}
	}
}
