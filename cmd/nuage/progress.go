package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"

	"github.com/dustin/go-humanize"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"
)

// progress draws, on a terminal, one bar per active transfer and, for
// transfers of several files, a total bar below them; elsewhere (or with
// -q) it draws nothing. Informational lines go through it so that they
// print above the bars instead of through them.
type progress struct {
	p     *mpb.Progress
	out   io.Writer // where lines go when there are no bars
	quiet bool

	mu    sync.Mutex
	total *mpb.Bar
	files atomic.Int64 // files finished
	count int64        // files to transfer
}

func (a *app) newProgress() *progress {
	pr := &progress{out: a.stderr, quiet: a.quiet}
	f, ok := a.stderr.(*os.File)
	if a.quiet || !ok || !term.IsTerminal(int(f.Fd())) {
		return pr
	}
	pr.p = mpb.New(mpb.WithOutput(a.stderr), mpb.WithWidth(40))
	return pr
}

// start announces the whole transfer: files files, bytes bytes. With more
// than one file a total bar is shown.
func (p *progress) start(files int, bytes int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.count = int64(files)
	if p.p == nil || files < 2 || p.total != nil {
		return
	}
	p.total = p.p.AddBar(bytes,
		mpb.BarPriority(1<<30), // always last
		mpb.PrependDecorators(
			decor.Name("total", decor.WC{C: decor.DindentRight | decor.DextraSpace}),
			decor.Any(func(decor.Statistics) string {
				return fmt.Sprintf("%d/%d files ", p.files.Load(), p.count)
			}),
			decor.Counters(decor.SizeB1024(0), "% .1f / % .1f")),
		mpb.AppendDecorators(decor.AverageSpeed(decor.SizeB1024(0), "% .1f"), decor.Name(" "),
			decor.OnComplete(decor.AverageETA(decor.ET_STYLE_GO), "done")),
	)
}

// bar starts a bar for a transfer of total bytes and returns the function
// to report progress with and the one to call when the transfer ends.
func (p *progress) bar(name string, total int64) (func(int64), func(ok bool)) {
	p.mu.Lock()
	tb := p.total
	p.mu.Unlock()
	if p.p == nil {
		return func(int64) {}, func(bool) { p.files.Add(1) }
	}
	b := p.p.AddBar(total,
		mpb.PrependDecorators(decor.Name(name, decor.WC{C: decor.DindentRight | decor.DextraSpace}),
			decor.Counters(decor.SizeB1024(0), "% .1f / % .1f")),
		mpb.AppendDecorators(decor.AverageSpeed(decor.SizeB1024(0), "% .1f"), decor.Name(" "), decor.OnComplete(decor.AverageETA(decor.ET_STYLE_GO), "done")),
		mpb.BarRemoveOnComplete(),
	)
	report := func(n int64) {
		b.IncrInt64(n)
		if tb != nil {
			tb.IncrInt64(n)
		}
	}
	return report, func(ok bool) {
		p.files.Add(1)
		if !ok {
			b.Abort(true)
		} else {
			b.SetTotal(-1, true)
		}
	}
}

// skip accounts for a file that needs no transfer (already there).
func (p *progress) skip(size int64) {
	p.files.Add(1)
	p.mu.Lock()
	tb := p.total
	p.mu.Unlock()
	if tb != nil {
		tb.IncrInt64(size)
	}
}

// printf prints an informational line (nothing with -q).
func (p *progress) printf(format string, args ...any) {
	if p.quiet {
		return
	}
	if p.p != nil {
		if _, err := fmt.Fprintf(p.p, format, args...); err == nil {
			return
		}
	}
	fmt.Fprintf(p.out, format, args...)
}

// wait ends the display: the total bar completes if everything went well
// and stays, aborted, otherwise.
func (p *progress) wait(ok bool) {
	if p.p == nil {
		return
	}
	p.mu.Lock()
	if p.total != nil {
		if ok {
			p.total.SetTotal(-1, true)
		} else {
			p.total.Abort(false)
		}
	}
	p.mu.Unlock()
	p.p.Wait()
}

// sizeOf formats a byte count for people.
func sizeOf(n int64) string {
	if n < 0 {
		n = 0
	}
	return humanize.IBytes(uint64(n))
}
