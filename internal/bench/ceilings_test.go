package bench

import (
	"context"
	"math"
	"testing"
	"time"
)

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(math.Abs(a), math.Abs(b)) }

// TestPipelineModel checks the ceilings against the formula written out
// independently (see Model).
func TestPipelineModel(t *testing.T) {
	const gb = 1e9
	// CPU seconds per input byte of each stage.
	cAES, cRS, cB3, cTLS, cDisk, cRead := 0.2/gb, 0.05/gb, 0.3/gb, 1.0/gb, 0.5/gb, 0.25/gb
	diskMBps, readMBps := 600.0, 800.0
	stages := []Stage{
		{Name: StageAES, Bytes: gb, CPUSeconds: cAES * gb},
		{Name: StageRS, Bytes: gb, CPUSeconds: cRS * gb},
		{Name: StageBLAKE3, Bytes: gb, CPUSeconds: cB3 * gb},
		{Name: StageTLS, Bytes: gb, CPUSeconds: cTLS * gb},
		{Name: StageDisk, Bytes: gb, CPUSeconds: cDisk * gb, MBps: diskMBps},
		{Name: "unknown", Bytes: gb, CPUSeconds: 100}, // not counted
		{Name: StageRead, Bytes: gb, CPUSeconds: cRead * gb, MBps: readMBps},
	}
	for _, tc := range []struct{ k, n, cores int }{{4, 6, 2}, {29, 80, 2}, {1, 2, 1}, {10, 20, 8}} {
		x := (65536.0 + 16) / 65536
		r := float64(tc.n) / float64(tc.k)
		putCPU := cAES + x*cRS + 2*r*x*cB3 + r*x*cTLS + r*x*cDisk
		getCPU := cAES + x*cB3 + x*cTLS + x*cRead + cDisk
		out, put, get := pipeline(stages, tc.k, tc.n, tc.cores)
		wantPutCPU, wantGetCPU := float64(tc.cores)/putCPU/MB, float64(tc.cores)/getCPU/MB
		wantPutDisk, wantGetDisk := diskMBps/(r*x), min(diskMBps, readMBps/x)
		if !near(put.CPUBound, wantPutCPU) || !near(put.DiskBound, wantPutDisk) || !near(put.CPUPerGiB, putCPU*GiB) {
			t.Errorf("%+v: put = %+v, want cpu %v disk %v", tc, put, wantPutCPU, wantPutDisk)
		}
		if !near(get.CPUBound, wantGetCPU) || !near(get.DiskBound, wantGetDisk) || !near(get.CPUPerGiB, getCPU*GiB) {
			t.Errorf("%+v: get = %+v, want cpu %v disk %v", tc, get, wantGetCPU, wantGetDisk)
		}
		for _, p := range []Pipeline{put, get} {
			want, bound := p.CPUBound, "cpu"
			if p.DiskBound < want {
				want, bound = p.DiskBound, "disk"
			}
			if p.MBps != want || p.Bound != bound || p.Cores != tc.cores {
				t.Errorf("%+v: ceiling %v (%s), want %v (%s)", tc, p.MBps, p.Bound, want, bound)
			}
		}
		if !near(out[2].PutPerByte, 2*r*x) || out[1].GetPerByte != 0 || out[5].PutPerByte != 0 ||
			out[6].PutPerByte != 0 || !near(out[6].GetPerByte, x) || out[6].PutAlone != 0 {
			t.Errorf("%+v: bytes per plaintext byte: %+v", tc, out)
		}
		if !near(out[0].PutAlone, float64(tc.cores)/cAES/MB) || !near(out[4].PutAlone, wantPutDisk) {
			t.Errorf("%+v: alone: aes %v disk %v", tc, out[0].PutAlone, out[4].PutAlone)
		}
	}
}

func TestPipelineWithoutFigures(t *testing.T) {
	_, put, get := pipeline(nil, 4, 6, 0)
	if put.MBps != 0 || get.MBps != 0 || put.Cores != 1 {
		t.Fatalf("empty stages gave %+v / %+v", put, get)
	}
}

// TestMeasureCeilings measures every stage briefly on this machine.
func TestMeasureCeilings(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lines := 0
	c, err := measureCeilings(ctx, stageSetup{K: 4, N: 6, SegmentSize: 1 << 20, Size: 3 << 20, Cores: 2, Dir: t.TempDir(), Budget: 20 * time.Millisecond},
		func(string, ...any) { lines++ })
	if err != nil {
		t.Fatal(err)
	}
	names := []string{StageAES, StageRS, StageBLAKE3, StageTLS, StageDisk, StageRead}
	if len(c.Stages) != len(names) || lines != len(names) {
		t.Fatalf("%d stages, %d progress lines", len(c.Stages), lines)
	}
	for i, s := range c.Stages {
		if s.Name != names[i] || s.Bytes <= 0 || s.Seconds <= 0 || s.MBps <= 0 || s.PutPerByte+s.GetPerByte <= 0 {
			t.Errorf("stage %d: %+v", i, s)
		}
	}
	// The read stage reads exactly the ciphertext of the file (k pieces).
	if want := int64(3<<20 + 48*16); c.Stages[5].Bytes != want {
		t.Errorf("read stage read %d bytes, want %d", c.Stages[5].Bytes, want)
	}
	// The disk stage writes exactly n/k × the ciphertext of the file.
	if want := int64(math.Ceil(float64(3<<20+48*16) * 6 / 4)); c.Stages[4].Bytes != want {
		t.Errorf("disk stage wrote %d bytes, want %d", c.Stages[4].Bytes, want)
	}
	if c.Put.MBps <= 0 || c.Get.MBps <= 0 || c.Model != Model {
		t.Errorf("pipeline: %+v %+v", c.Put, c.Get)
	}
}

func TestMeasureCeilingsCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := measureCeilings(ctx, stageSetup{K: 4, N: 6, SegmentSize: 1 << 20, Size: 1 << 20, Cores: 2, Dir: t.TempDir(), Budget: time.Second}, func(string, ...any) {})
	if err == nil {
		t.Fatal("a cancelled measurement succeeded")
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestBestOf(t *testing.T) {
	mk := func(pass int, aesCPU, diskMBps float64) Ceilings {
		st := []Stage{
			{Name: StageAES, Bytes: 1e9, CPUSeconds: aesCPU, Pass: pass},
			{Name: StageDisk, Bytes: 1e9, CPUSeconds: 0.5, MBps: diskMBps, Pass: pass},
		}
		st, put, get := pipeline(st, 4, 6, 2)
		return Ceilings{Stages: st, Put: put, Get: get, Model: Model}
	}
	a, b := mk(1, 0.2, 100), mk(2, 0.4, 300)
	b.Error = "pass 2 hiccup"
	got := bestOf(a, b, 4, 6, 2)
	if got.Stages[0].Pass != 1 || got.Stages[1].Pass != 2 {
		t.Fatalf("kept passes %d, %d; want the faster AES of pass 1 and disk of pass 2", got.Stages[0].Pass, got.Stages[1].Pass)
	}
	_, wantPut, _ := pipeline([]Stage{a.Stages[0], b.Stages[1]}, 4, 6, 2)
	if got.Put != wantPut || got.Error != "pass 2 hiccup" || got.Model != Model {
		t.Fatalf("merged %+v", got)
	}
	if a.Stages[1].Pass != 1 {
		t.Fatal("bestOf modified its input")
	}
	// A stage only the second pass measured is added.
	c := bestOf(Ceilings{}, b, 4, 6, 2)
	if len(c.Stages) != 2 || c.Put.MBps == 0 {
		t.Fatalf("from an empty first pass: %+v", c)
	}
}

// TestBestOfGetOnlyStage: for a stage a put does not use (the read), the
// pass that cost less CPU counts.
func TestBestOfGetOnlyStage(t *testing.T) {
	mk := func(pass int, readCPU float64) Ceilings {
		st, put, get := pipeline([]Stage{{Name: StageRead, Bytes: 1e9, CPUSeconds: readCPU, MBps: 900, CPUPerGiB: readCPU / 1e9 * GiB, Pass: pass}}, 4, 6, 2)
		return Ceilings{Stages: st, Put: put, Get: get}
	}
	if got := bestOf(mk(1, 0.4), mk(2, 0.3), 4, 6, 2); got.Stages[0].Pass != 2 {
		t.Fatalf("kept pass %d, want the cheaper pass 2", got.Stages[0].Pass)
	}
	if got := bestOf(mk(1, 0.3), mk(2, 0.4), 4, 6, 2); got.Stages[0].Pass != 1 {
		t.Fatalf("kept pass %d, want the cheaper pass 1", got.Stages[0].Pass)
	}
}
