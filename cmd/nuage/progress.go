package main

import (
	"os"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"
)

// progress draws one bar per transfer on a terminal; elsewhere it draws nothing.
type progress struct {
	p *mpb.Progress
}

func (a *app) newProgress() *progress {
	f, ok := a.stderr.(*os.File)
	if a.quiet || !ok || !term.IsTerminal(int(f.Fd())) {
		return &progress{}
	}
	return &progress{p: mpb.New(mpb.WithOutput(a.stderr), mpb.WithWidth(40))}
}

// bar starts a bar for a transfer of total bytes and returns the function
// to report progress with and the one to call when the transfer ends.
func (p *progress) bar(name string, total int64) (func(int64), func(ok bool)) {
	if p.p == nil {
		return func(int64) {}, func(bool) {}
	}
	b := p.p.AddBar(total,
		mpb.PrependDecorators(decor.Name(name, decor.WC{C: decor.DindentRight | decor.DextraSpace}),
			decor.Counters(decor.SizeB1024(0), "% .1f / % .1f")),
		mpb.AppendDecorators(decor.AverageSpeed(decor.SizeB1024(0), "% .1f"), decor.Name(" "), decor.OnComplete(decor.AverageETA(decor.ET_STYLE_GO), "done")),
		mpb.BarRemoveOnComplete(),
	)
	return func(n int64) { b.IncrInt64(n) }, func(ok bool) {
		if !ok {
			b.Abort(true)
		} else {
			b.SetTotal(-1, true)
		}
	}
}

func (p *progress) wait() {
	if p.p != nil {
		p.p.Wait()
	}
}
