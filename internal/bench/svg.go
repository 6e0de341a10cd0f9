package bench

import (
	"bufio"
	"fmt"
	"html"
	"io"
	"math"
	"strconv"
)

// chartBar is one bar of the chart.
type chartBar struct {
	label string
	value float64 // MB/s; 0 with a note draws no bar
	note  string  // shown instead of a value ("not installed …", "failed")
	fill  string
	dash  bool // outlined, dashed: a ceiling, not a measurement
	// lo and hi are the slowest and fastest runs' MB/s, drawn as a
	// whisker across the bar, when the transfer ran more than once.
	lo, hi float64
}

type chartGroup struct {
	title string
	bars  []chartBar
}

// Colours of the chart, one per tool so a reader can follow a tool across
// groups.
var toolColour = map[string]string{
	"nuage":  "#1f6feb",
	"rclone": "#d97706",
	"restic": "#059669",
	"age":    "#7c3aed",
}

const ceilingFill = "#e5e7eb"

// chartGroups turns results into the chart's groups: one per operation,
// bars for nuage, each peer and the pipeline ceiling.
func chartGroups(r *Results) []chartGroup {
	var groups []chartGroup
	for _, op := range []string{OpPut, OpGet} {
		nu, ceil, title := r.Nuage.Put, r.Ceilings.Put, "put: store the file (encrypt, upload)"
		label := "nuage put"
		if op == OpGet {
			nu, ceil, title = r.Nuage.Get, r.Ceilings.Get, "get: fetch the file (download, decrypt)"
			label = "nuage get"
		}
		g := chartGroup{title: title}
		g.bars = append(g.bars, transferBar(label, nu, toolColour["nuage"]))
		for _, p := range r.Peers {
			if p.Op != op {
				continue
			}
			if !p.Installed {
				g.bars = append(g.bars, chartBar{label: p.Label, note: "not installed (" + p.Install + ")"})
				continue
			}
			g.bars = append(g.bars, transferBar(p.Label, p.Transfer, toolColour[p.Tool]))
		}
		if ceil.MBps > 0 {
			g.bars = append(g.bars, chartBar{label: fmt.Sprintf("ceiling of this machine (%s-bound)", ceil.Bound), value: ceil.MBps, fill: ceilingFill, dash: true})
		}
		groups = append(groups, g)
	}
	return groups
}

func transferBar(label string, t Transfer, fill string) chartBar {
	if !t.OK() {
		note := "failed"
		if t.Error == "not installed" {
			note = t.Error
		}
		return chartBar{label: label, note: note}
	}
	if fill == "" {
		fill = "#6b7280"
	}
	b := chartBar{label: label, value: t.MBps, fill: fill}
	if fastest, slowest, ok := runRange(t); ok && fastest > 0 {
		b.lo, b.hi = float64(t.Bytes)/slowest/MB, float64(t.Bytes)/fastest/MB
	}
	return b
}

// niceMax rounds v up to 1, 2, 2.5 or 5 × 10^k, for axis ticks.
func niceMax(v float64) float64 {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// Chart geometry, in SVG user units (pixels).
const (
	svgWidth   = 980
	svgLabelW  = 330 // label column
	svgValueW  = 110 // room after the longest bar for its value
	svgTop     = 78  // title, subtitle, legend
	svgBarH    = 20
	svgBarGap  = 6
	svgGroupH  = 30 // group title
	svgGroupSp = 10
	svgAxisH   = 40
	svgTicks   = 5
)

// WriteSVG renders the throughput of nuage, the peers and the ceiling as
// a horizontal bar chart (MB/s, higher is better), one group per
// operation, in plain SVG that any browser shows.
func WriteSVG(w io.Writer, r *Results) error {
	groups := chartGroups(r)
	var maxV float64
	nbars := 0
	for _, g := range groups {
		for _, b := range g.bars {
			maxV = math.Max(maxV, math.Max(b.value, b.hi))
			nbars++
		}
	}
	scaleMax := niceMax(maxV)
	plotX := float64(svgLabelW + 10)
	plotW := float64(svgWidth) - plotX - svgValueW
	x := func(v float64) float64 { return plotX + v/scaleMax*plotW }
	height := svgTop + len(groups)*(svgGroupH+svgGroupSp) + nbars*(svgBarH+svgBarGap) + svgAxisH

	bw := bufio.NewWriter(w)
	p := func(format string, args ...any) { fmt.Fprintf(bw, format, args...) }
	esc := html.EscapeString
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif" font-size="13">`+"\n",
		svgWidth, height, svgWidth, height)
	s := r.Setup
	title := fmt.Sprintf("nuage bench: %s file, %d-of-%d on %d nodes — MB/s, higher is better", formatBytes(s.Size), s.K, s.N, s.Nodes)
	p(`<title>%s</title>`+"\n", esc(title))
	p(`<rect width="100%%" height="100%%" fill="#ffffff"/>` + "\n")
	p(`<text x="16" y="26" font-size="17" font-weight="600" fill="#111827">%s</text>`+"\n", esc(title))
	p(`<text x="16" y="46" fill="#4b5563">%s</text>`+"\n", esc(machineLine(r.Machine)+"; "+r.Started.UTC().Format("2006-01-02")))
	// Legend.
	lx := 16.0
	for _, l := range []struct{ name, fill string }{{"nuage", toolColour["nuage"]}, {"rclone", toolColour["rclone"]}, {"restic", toolColour["restic"]}, {"age", toolColour["age"]}, {"ceiling (model)", ceilingFill}} {
		dash := ""
		if l.fill == ceilingFill {
			dash = ` stroke="#6b7280" stroke-dasharray="4 3"`
		}
		p(`<rect x="%.0f" y="56" width="14" height="12" fill="%s"%s/>`+"\n", lx, l.fill, dash)
		p(`<text x="%.0f" y="66" fill="#374151">%s</text>`+"\n", lx+19, esc(l.name))
		lx += 19 + float64(8*len(l.name)) + 22
	}

	// Axis and vertical grid lines first, so that bars cover them.
	plotTop, plotBottom := float64(svgTop), float64(height-svgAxisH)
	for i := 0; i <= svgTicks; i++ {
		v := scaleMax * float64(i) / svgTicks
		gx := x(v)
		p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#d1d5db" stroke-width="1"/>`+"\n", gx, plotTop+8, gx, plotBottom)
		p(`<text x="%.1f" y="%.1f" text-anchor="middle" fill="#4b5563">%s</text>`+"\n", gx, plotBottom+16, strconv.FormatFloat(v, 'f', -1, 64))
	}
	axis := "MB/s (10⁶ bytes per second of file size)"
	if s.Runs > 1 {
		axis += fmt.Sprintf("; median of %d runs, whiskers from the slowest to the fastest", s.Runs)
	}
	p(`<text x="%.1f" y="%.1f" text-anchor="middle" fill="#4b5563">%s</text>`+"\n", plotX+plotW/2, plotBottom+33, esc(axis))

	y := plotTop
	for _, g := range groups {
		y += svgGroupH
		p(`<text x="16" y="%.0f" font-size="14" font-weight="600" fill="#111827">%s</text>`+"\n", y-9, esc(g.title))
		for _, b := range g.bars {
			ty := y + svgBarH/2 + 4.5
			p(`<text x="%d" y="%.1f" text-anchor="end" fill="#111827">%s</text>`+"\n", svgLabelW, ty, esc(b.label))
			if b.value <= 0 {
				note := b.note
				if note == "" {
					note = "no figure"
				}
				p(`<text x="%.0f" y="%.1f" fill="#6b7280" font-style="italic">%s</text>`+"\n", plotX+4, ty, esc(note))
			} else {
				wd := math.Max(x(b.value)-plotX, 1)
				style := ""
				if b.dash {
					style = ` stroke="#6b7280" stroke-width="1.2" stroke-dasharray="5 3"`
				}
				p(`<rect x="%.1f" y="%.1f" width="%.1f" height="%d" fill="%s"%s><title>%s: %s MB/s</title></rect>`+"\n",
					plotX, y, wd, svgBarH, b.fill, style, esc(b.label), formatRate(b.value))
				end := plotX + wd
				if b.hi > 0 {
					// The runs' range: a whisker across the bar's end.
					x0, x1, my := x(b.lo), x(b.hi), y+svgBarH/2
					p(`<g stroke="#111827" stroke-width="1.2"><title>%s: runs from %s to %s MB/s</title>`, esc(b.label), formatRate(b.lo), formatRate(b.hi))
					p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, x0, my, x1, my)
					p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, x0, my-5, x0, my+5)
					p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/></g>`+"\n", x1, my-5, x1, my+5)
					end = math.Max(end, x1)
				}
				p(`<text x="%.1f" y="%.1f" fill="#111827">%s MB/s</text>`+"\n", end+6, ty, formatRate(b.value))
			}
			y += svgBarH + svgBarGap
		}
		y += svgGroupSp
	}
	p("</svg>\n")
	return bw.Flush()
}
