package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"testing"

	"github.com/nuage-storage/nuage/client"
)

func TestDecodeChildRequest(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want ChildRequest
		err  bool
	}{
		{in: `{"op":"first-byte","path":"/a","length":-1,"stop_at_first_byte":true}`, want: ChildRequest{Op: ChildFirstByte, Path: "/a", Length: -1, StopAtFirstByte: true}},
		{in: `{"op":"first-byte","path":"/a","offset":5,"length":10}` + "\n", want: ChildRequest{Op: ChildFirstByte, Path: "/a", Offset: 5, Length: 10}},
		{in: `{"op":"list","path":"/small"}`, want: ChildRequest{Op: ChildList, Path: "/small"}},
		{in: ``, err: true},
		{in: `{"op":"rm","path":"/a"}`, err: true},
		{in: `{"op":"list","path":"a"}`, err: true},
		{in: `{"op":"list"}`, err: true},
		{in: `{"op":"first-byte","path":"/a","offset":-1}`, err: true},
		{in: `{"op":"list","path":"/a","extra":1}`, err: true},
		{in: `{"op":"list","path":"/a"} {"op":"list","path":"/b"}`, err: true},
		{in: `{"op":"list","path":"/a"`, err: true},
		{in: `[1,2]`, err: true},
	} {
		got, err := DecodeChildRequest(strings.NewReader(tc.in))
		if tc.err {
			if !errors.Is(err, ErrBadRequest) {
				t.Errorf("%s: err = %v, want ErrBadRequest", tc.in, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: got %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestParseChildResult(t *testing.T) {
	for _, tc := range []struct {
		in  string
		ok  bool
		res ChildResult
	}{
		{`{"first_byte_seconds":0.1,"seconds":0.2,"bytes":5}`, true, ChildResult{FirstByteSeconds: 0.1, Seconds: 0.2, Bytes: 5}},
		{`{"seconds":1,"files":10,"folders":2}` + "\n", true, ChildResult{Seconds: 1, Files: 10, Folders: 2}},
		{`{"first_byte_seconds":2,"seconds":1}`, false, ChildResult{}},
		{`{"seconds":-1}`, false, ChildResult{}},
		{`{"seconds":1,"files":-3}`, false, ChildResult{}},
		{`{"seconds":1,"who":"me"}`, false, ChildResult{}},
		{`{"seconds":"1"}`, false, ChildResult{}},
		{`error: not logged in`, false, ChildResult{}},
	} {
		got, err := ParseChildResult([]byte(tc.in))
		if tc.ok != (err == nil) || got != tc.res {
			t.Errorf("%s: got %+v, %v", tc.in, got, err)
		}
		if err != nil && !errors.Is(err, ErrBadRequest) {
			t.Errorf("%s: %v does not wrap ErrBadRequest", tc.in, err)
		}
	}
}

// fakeClient serves a file of size bytes in chunks and a folder tree.
type fakeClient struct {
	size  int64
	chunk int64
	tree  map[string][]client.Entry
	reads int
}

func (f *fakeClient) ReadRange(ctx context.Context, p string, off, n int64, w io.Writer, _ func(int64)) (client.Entry, error) {
	f.reads++
	if p != "/f" {
		return client.Entry{}, client.ErrNotFound
	}
	if n < 0 {
		n = f.size - off
	}
	buf := make([]byte, f.chunk)
	for n > 0 {
		m := min(n, f.chunk)
		if _, err := w.Write(buf[:m]); err != nil {
			return client.Entry{}, fmt.Errorf("get %s: %w", p, err)
		}
		n -= m
	}
	return client.Entry{Path: p, Size: f.size}, nil
}

func (f *fakeClient) List(ctx context.Context, p string) ([]client.Entry, error) {
	es, ok := f.tree[p]
	if !ok {
		return nil, client.ErrNotFound
	}
	return es, nil
}

func serve(t *testing.T, c Client, req string) (ChildResult, error) {
	t.Helper()
	var out bytes.Buffer
	if err := ServeChild(context.Background(), c, strings.NewReader(req), &out); err != nil {
		return ChildResult{}, err
	}
	return ParseChildResult(out.Bytes())
}

func TestServeChildFirstByte(t *testing.T) {
	f := &fakeClient{size: 10 << 20, chunk: 1 << 20}
	res, err := serve(t, f, `{"op":"first-byte","path":"/f","length":-1,"stop_at_first_byte":true}`)
	if err != nil {
		t.Fatal(err)
	}
	if res.Bytes != 1<<20 || res.FirstByteSeconds <= 0 || res.Seconds < res.FirstByteSeconds {
		t.Fatalf("stopped read: %+v", res)
	}
	res, err = serve(t, f, `{"op":"first-byte","path":"/f","offset":4194304,"length":3000000}`)
	if err != nil {
		t.Fatal(err)
	}
	if res.Bytes != 3000000 || res.FirstByteSeconds <= 0 {
		t.Fatalf("range read: %+v", res)
	}
	if _, err := serve(t, f, `{"op":"first-byte","path":"/missing"}`); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("missing file: %v", err)
	}
	empty := &fakeClient{size: 0, chunk: 1}
	if _, err := serve(t, empty, `{"op":"first-byte","path":"/f"}`); err == nil {
		t.Fatal("a read of no bytes succeeded")
	}
}

func TestServeChildList(t *testing.T) {
	tree := map[string][]client.Entry{}
	files := 0
	for d := range 3 {
		dir := fmt.Sprintf("/s/d%d", d)
		tree["/s"] = append(tree["/s"], client.Entry{Name: path.Base(dir), IsDir: true})
		tree[dir] = []client.Entry{{Name: "sub", IsDir: true}}
		tree[dir+"/sub"] = nil
		for i := range 5 + d {
			tree[dir] = append(tree[dir], client.Entry{Name: fmt.Sprintf("f%d", i)})
			files++
		}
	}
	res, err := serve(t, &fakeClient{tree: tree}, `{"op":"list","path":"/s"}`)
	if err != nil {
		t.Fatal(err)
	}
	if res.Files != files || res.Folders != 6 {
		t.Fatalf("listed %d files, %d folders; want %d, 6", res.Files, res.Folders, files)
	}
	delete(tree, "/s/d1/sub")
	if _, err := serve(t, &fakeClient{tree: tree}, `{"op":"list","path":"/s"}`); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("broken tree: %v", err)
	}
}

func TestServeChildBadRequest(t *testing.T) {
	f := &fakeClient{size: 1}
	if _, err := serve(t, f, `{"op":"first-byte","path":"f"}`); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("err = %v", err)
	}
	if f.reads != 0 {
		t.Fatal("a bad request reached the client")
	}
}

func FuzzDecodeChildRequest(f *testing.F) {
	for _, s := range []string{
		`{"op":"first-byte","path":"/a","length":-1,"stop_at_first_byte":true}`,
		`{"op":"list","path":"/small"}`,
		`{"op":"first-byte","path":"/a","offset":9223372036854775807,"length":-9223372036854775808}`,
		`{"op":"list","path":"/a"} x`,
		``, `null`, `{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := DecodeChildRequest(bytes.NewReader(b))
		if err != nil {
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("error %v does not wrap ErrBadRequest", err)
			}
			return
		}
		if (req.Op != ChildFirstByte && req.Op != ChildList) || !strings.HasPrefix(req.Path, "/") || req.Offset < 0 {
			t.Fatalf("accepted an invalid request %+v", req)
		}
		// What was accepted survives a round trip.
		line, err := jsonLine(req)
		if err != nil {
			t.Fatal(err)
		}
		again, err := DecodeChildRequest(bytes.NewReader(line))
		if err != nil || again != req {
			t.Fatalf("round trip: %+v, %v", again, err)
		}
	})
}

func FuzzParseChildResult(f *testing.F) {
	for _, s := range []string{
		`{"first_byte_seconds":0.1,"seconds":0.2,"bytes":5}`,
		`{"seconds":1,"files":10,"folders":2}`,
		`{"seconds":1e308,"first_byte_seconds":1e-308}`,
		`{"seconds":1,"files":-1}`,
		`error: x`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		res, err := ParseChildResult(b)
		if err != nil {
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("error %v does not wrap ErrBadRequest", err)
			}
			return
		}
		if res.Seconds < 0 || res.FirstByteSeconds > res.Seconds || res.Bytes < 0 || res.Files < 0 || res.Folders < 0 {
			t.Fatalf("accepted impossible figures %+v", res)
		}
	})
}
