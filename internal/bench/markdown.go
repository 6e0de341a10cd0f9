package bench

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// WriteMarkdown renders r as Markdown tables: the summary a person reads
// and docs/benchmarks.md quotes.
func WriteMarkdown(w io.Writer, r *Results) error {
	bw := bufio.NewWriter(w)
	p := func(format string, args ...any) { fmt.Fprintf(bw, format, args...) }
	s := r.Setup
	p("## nuage bench: %s file, %d nodes, %d-of-%d, %s segments\n\n", formatBytes(s.Size), s.Nodes, s.K, s.N, formatBytes(s.SegmentSize))
	if r.Command != "" {
		p("Command: `%s`  \n", r.Command)
	}
	p("Machine: %s  \n", machineLine(r.Machine))
	p("Run: %s, %s in total; load average %.2f at the start, %.2f at the end\n\n", r.Started.UTC().Format(time.RFC3339), formatSeconds(r.Seconds), r.LoadStart, r.LoadEnd)

	p("### Throughput of one %s file\n\n", formatBytes(s.Size))
	p("MB/s is 10⁶ bytes per second of the file's size; time is the process's wall time plus a sync(2) after it exits. ")
	p("CPU and peak RSS are those of the client process alone (the network runs in the benchmarking process; its CPU is in the last column).")
	if s.Runs > 1 {
		p(" Each transfer ran %d times (nuage's puts and gets alternating, each peer's pair in a fresh repository): a row shows the median run by time, with the range of the runs' times in brackets, and the highest peak RSS of the runs.", s.Runs)
	}
	p("\n\n")
	p("| operation | tool | MB/s | time | CPU s/GiB | peak RSS | vs nuage | network CPU s/GiB |\n")
	p("|---|---|---:|---:|---:|---:|---:|---:|\n")
	for _, op := range []string{OpPut, OpGet} {
		nu := r.Nuage.Put
		ceil := r.Ceilings.Put
		label := "`nuage put`"
		if op == OpGet {
			nu, ceil, label = r.Nuage.Get, r.Ceilings.Get, "`nuage get`"
		}
		p("| %s | %s | %s |\n", op, label, transferCells(nu, nu, true))
		for _, pr := range r.Peers {
			if pr.Op != op {
				continue
			}
			name := pr.Label
			if pr.Version != "" {
				name += " (" + pr.Version + ")"
			}
			if !pr.Installed {
				p("| %s | %s | not installed: `%s` | | | | | |\n", op, name, pr.Install)
				continue
			}
			p("| %s | %s | %s |\n", op, name, transferCells(pr.Transfer, nu, false))
		}
		if ceil.MBps > 0 {
			p("| %s | pipeline ceiling (%s-bound) | %s | | | | %s | |\n", op, ceil.Bound, formatRate(ceil.MBps), ratio(ceil.MBps, nu))
		}
	}
	p("\n")

	p("### Latency\n\n")
	p("Measured inside a fresh client process from the read call (session already loaded): path lookup, segment orders, piece downloads, decoding and decryption; median of %d runs.\n\n", LatencyRuns)
	p("| read | first byte | last byte |\n|---|---:|---:|\n")
	p("| whole file (`nuage get`) | %s | |\n", latencyCell(r.Nuage.FirstByte, false))
	p("| %s from the middle (offset %d) | %s | %s |\n\n", formatBytes(r.Nuage.Range.Length), r.Nuage.Range.Offset,
		latencyCell(r.Nuage.Range, false), latencyCell(r.Nuage.Range, true))

	if s.SmallFiles > 0 {
		p("### Many small files\n\n")
		p("%d files of %s, %d per folder, in %d folders.\n\n", s.SmallFiles, formatBytes(int64(s.SmallFileSize)), FilesPerFolder, r.Nuage.SmallPut.Folders)
		p("| operation | files/s | time | peak RSS |\n|---|---:|---:|---:|\n")
		p("| recursive put (`nuage put -r`) | %s |\n", fileRateCells(r.Nuage.SmallPut))
		p("| recursive listing | %s |\n\n", fileRateCells(r.Nuage.SmallList))
	}

	c := r.Ceilings
	p("### Stage ceilings (each stage alone, same run)\n\n")
	if c.Error != "" {
		p("Stage measurement failed: %s\n\n", c.Error)
	}
	p("Each stage is measured twice, before and after the client measurements; the better pass counts.\n\n")
	p("| stage | MB/s of its input | CPU s/GiB of its input | bytes per plaintext byte (put / get) | put rate it alone allows | pass |\n")
	p("|---|---:|---:|---:|---:|---:|\n")
	for _, st := range c.Stages {
		p("| %s | %s | %.2f | %.3f / %.3f | %s | %d |\n", st.Label, formatRate(st.MBps), st.CPUPerGiB, st.PutPerByte, st.GetPerByte, formatRate(st.PutAlone), st.Pass)
	}
	p("\n")
	for _, x := range []struct {
		name string
		pl   Pipeline
	}{{"put", c.Put}, {"get", c.Get}} {
		if x.pl.MBps == 0 {
			continue
		}
		p("- %s ceiling: **%s MB/s** (%s-bound): %.2f CPU s per GiB on %d cores allow %s MB/s; the disk allows %s MB/s.\n",
			x.name, formatRate(x.pl.MBps), x.pl.Bound, x.pl.CPUPerGiB, x.pl.Cores, formatRate(x.pl.CPUBound), formatRate(x.pl.DiskBound))
	}
	if c.Model != "" {
		p("- model: %s\n", c.Model)
	}
	if len(r.Notes) > 0 {
		p("\n### Notes\n\n")
		for _, n := range r.Notes {
			p("- %s\n", strings.ReplaceAll(n, "\n", " "))
		}
	}
	return bw.Flush()
}

func machineLine(m Machine) string {
	parts := []string{}
	if m.CPU != "" {
		parts = append(parts, m.CPU)
	}
	parts = append(parts, fmt.Sprintf("%d cores", m.Cores))
	if m.MemoryBytes > 0 {
		parts = append(parts, formatBytes(m.MemoryBytes)+" RAM")
	}
	k := m.Kernel
	if k == "" {
		k = m.OS
	}
	parts = append(parts, k+" "+m.Arch, m.Go)
	if m.Filesystem != "" {
		parts = append(parts, "work directory on "+m.Filesystem)
	}
	if m.TimerSlackNS > 0 {
		s := "timer slack " + formatSlack(m.TimerSlackNS)
		if m.PeerTimerSlackNS > 0 && m.PeerTimerSlackNS != m.TimerSlackNS {
			s += " (peers " + formatSlack(m.PeerTimerSlackNS) + ")"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

// formatSlack renders a timer slack in nanoseconds: 1 ms, 50 µs.
func formatSlack(ns int64) string {
	switch {
	case ns%1e6 == 0:
		return fmt.Sprintf("%d ms", ns/1e6)
	case ns%1e3 == 0:
		return fmt.Sprintf("%d µs", ns/1e3)
	}
	return fmt.Sprintf("%d ns", ns)
}

// transferCells renders the MB/s … network CPU cells of a transfer row.
func transferCells(t, nuage Transfer, isNuage bool) string {
	if t.Error != "" {
		return fmt.Sprintf("failed: %s | | | | | ", cell(t.Error))
	}
	net := ""
	if isNuage {
		net = fmt.Sprintf("%.2f", t.ServerCPUPerGiB)
	}
	rel := "1.00×"
	if !isNuage {
		rel = ratio(t.MBps, nuage)
	}
	return fmt.Sprintf("%s | %s | %.2f | %s | %s | %s", formatRate(t.MBps), timeCell(t), t.CPUPerGiB, rssCell(t.PeakRSS), rel, net)
}

// timeCell shows a transfer's time, and the range of its runs' times when
// it ran more than once.
func timeCell(t Transfer) string {
	lo, hi, ok := runRange(t)
	if !ok {
		return formatSeconds(t.Seconds)
	}
	return fmt.Sprintf("%s (%s–%s)", formatSeconds(t.Seconds), formatSeconds(lo), formatSeconds(hi))
}

func ratio(mbps float64, nuage Transfer) string {
	if !nuage.OK() || nuage.MBps <= 0 || mbps <= 0 {
		return ""
	}
	return fmt.Sprintf("%.2f×", mbps/nuage.MBps)
}

func rssCell(n int64) string {
	if n <= 0 {
		return "?"
	}
	return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
}

func latencyCell(l Latency, last bool) string {
	if l.Error != "" {
		if last {
			return ""
		}
		return "failed: " + cell(l.Error)
	}
	if last {
		return formatSeconds(l.TotalSeconds)
	}
	return formatSeconds(l.FirstByteSeconds)
}

func fileRateCells(f FileRate) string {
	if f.Error != "" {
		return fmt.Sprintf("failed: %s | | ", cell(f.Error))
	}
	return fmt.Sprintf("%.0f | %s | %s", f.FilesPerSecond, formatSeconds(f.Seconds), rssCell(f.PeakRSS))
}

// formatRate shows MB/s with sensible precision.
func formatRate(v float64) string {
	switch {
	case v <= 0:
		return "—"
	case v < 10:
		return fmt.Sprintf("%.2f", v)
	case v < 100:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.0f", v)
}

// cell makes text safe inside a Markdown table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	s = strings.ReplaceAll(s, "|", "\\|")
	if len(s) > 300 {
		i := 300
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		s = s[:i] + "…"
	}
	return s
}
