package client_test

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nuage-storage/nuage/client"
	"github.com/nuage-storage/nuage/internal/testnet"
)

// BenchmarkTree10k puts 10,000 small (1 KiB, inline) files into 100
// folders through the API with 8 concurrent callers, as `nuage put -r`
// does, then walks the whole tree (`nuage ls -R`) from a new device, which
// replays the journal and verifies every listing, and again on the same
// client (listings cached). Coordinator and nodes run in-process.
func BenchmarkTree10k(b *testing.B) {
	const files, folders, workers = 10000, 100, 8
	net := testnet.New(b, testnet.Options{})
	data := bytes.Repeat([]byte("x"), 1024)
	for b.Loop() {
		c := net.Signup(b)
		ctx := ctxT(b)
		start := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Go(func() {
				for i := w; i < files; i += workers {
					dir := fmt.Sprintf("/tree/d%02d", i%folders)
					if i < folders {
						if _, err := c.Mkdir(ctx, dir, true); err != nil {
							errs <- err
							return
						}
					}
					if _, err := c.Put(ctx, fmt.Sprintf("%s/f%05d", dir, i), bytes.NewReader(data), int64(len(data)), &client.PutOptions{}); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
		put := time.Since(start)

		start = time.Now()
		fresh, err := client.Login(ctx, net.URL, c.Email(), []byte(testnet.Password), nil, net.ClientOptions())
		if err != nil {
			b.Fatal(err)
		}
		login := time.Since(start)
		walk := func(c *client.Client) time.Duration {
			start := time.Now()
			n := 0
			if err := c.Walk(ctx, "/", func(e client.Entry) error {
				if !e.IsDir {
					n++
				}
				return nil
			}); err != nil {
				b.Fatal(err)
			}
			if n != files {
				b.Fatalf("walked %d files, want %d", n, files)
			}
			return time.Since(start)
		}
		cold := walk(fresh)
		warm := walk(fresh)
		fresh.Close()
		b.ReportMetric(put.Seconds(), "put-s")
		b.ReportMetric(float64(files)/put.Seconds(), "put-files/s")
		b.ReportMetric(cold.Seconds(), "ls-R-new-device-s")
		b.ReportMetric(warm.Seconds(), "ls-R-warm-s")
		b.ReportMetric(login.Seconds(), "login-s")
	}
}
