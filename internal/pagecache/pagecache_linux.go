package pagecache

import (
	"errors"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// errUnsupported reports a file system that does not take the advice.
var errUnsupported = errors.New("pagecache: not supported by the file system")

// Drop asks the kernel to drop the cached pages of f's bytes [off, off+n)
// (n == 0: to the end of the file). Only pages already written to disk are
// dropped, so call it after f.Sync; dirty pages stay. It is advice: errors
// are ignored.
func Drop(f *os.File, off, n int64) {
	_ = unix.Fadvise(int(f.Fd()), off, n, unix.FADV_DONTNEED)
}

// startWriteback starts writing [off, off+n) of f back, without waiting.
func startWriteback(f *os.File, off, n int64) error {
	return syncRange(f, off, n, unix.SYNC_FILE_RANGE_WRITE)
}

// waitWriteback writes [off, off+n) of f back and waits until it is on
// disk (the data, not the file's metadata: that is Sync's job).
func waitWriteback(f *os.File, off, n int64) error {
	return syncRange(f, off, n, unix.SYNC_FILE_RANGE_WAIT_BEFORE|unix.SYNC_FILE_RANGE_WRITE|unix.SYNC_FILE_RANGE_WAIT_AFTER)
}

func syncRange(f *os.File, off, n int64, flags int) error {
	err := unix.SyncFileRange(int(f.Fd()), off, n, flags)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ESPIPE):
		return errUnsupported
	default:
		return fmt.Errorf("write back %s: %w", f.Name(), err)
	}
}

// Resident returns how many of f's pages are in the page cache, and how
// many pages f has; for tests and diagnostics.
func Resident(f *os.File) (resident, pages int, err error) {
	st, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	if st.Size() == 0 {
		return 0, 0, nil
	}
	m, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return 0, 0, fmt.Errorf("pagecache: mmap %s: %w", f.Name(), err)
	}
	defer unix.Munmap(m)
	ps := os.Getpagesize()
	vec := make([]byte, (len(m)+ps-1)/ps)
	_, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0])))
	if errno != 0 {
		return 0, 0, fmt.Errorf("pagecache: mincore %s: %w", f.Name(), errno)
	}
	for _, v := range vec {
		resident += int(v & 1)
	}
	return resident, len(vec), nil
}
