//go:build !linux

package pagecache

import (
	"errors"
	"os"
)

var errUnsupported = errors.New("pagecache: not supported on this system")

// Drop does nothing outside Linux.
func Drop(f *os.File, off, n int64) {}

func startWriteback(f *os.File, off, n int64) error { return errUnsupported }

func waitWriteback(f *os.File, off, n int64) error { return errUnsupported }
