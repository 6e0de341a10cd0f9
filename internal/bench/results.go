package bench

import (
	"time"
)

// SchemaVersion is the version of the Results JSON layout. It changes when
// a field is renamed or its meaning changes, not when one is added.
const SchemaVersion = 2

// MB is the unit of every throughput figure: 10^6 bytes, as rclone, restic
// and most disk benchmarks count.
const MB = 1e6

// GiB is 2^30 bytes, the unit of the CPU-seconds-per-GiB figures.
const GiB = 1 << 30

// Results is everything one run of `nuage bench` measured. It is what
// bench.json holds; bench.md and bench.svg are rendered from it.
type Results struct {
	Schema  int       `json:"schema"`
	Started time.Time `json:"started"`
	Seconds float64   `json:"seconds"`
	Command string    `json:"command"`
	Machine Machine   `json:"machine"`
	// LoadStart and LoadEnd are the 1-minute load averages when the run
	// started and ended: the machine is shared, and a load near or above
	// the core count means other work competed for the CPU.
	LoadStart float64  `json:"load_start"`
	LoadEnd   float64  `json:"load_end"`
	Setup     Setup    `json:"setup"`
	Nuage     Nuage    `json:"nuage"`
	Ceilings  Ceilings `json:"ceilings"`
	// Peers holds one entry per peer operation, installed or not.
	Peers []PeerResult `json:"peers"`
	// Notes are warnings about the run (a tmpfs work directory, a failed
	// verification) that a reader of the figures must know.
	Notes []string `json:"notes,omitempty"`
}

// Machine describes where the figures were measured.
type Machine struct {
	CPU         string `json:"cpu"`
	Cores       int    `json:"cores"`
	MemoryBytes int64  `json:"memory_bytes"`
	OS          string `json:"os"`
	Arch        string `json:"arch"`
	Kernel      string `json:"kernel,omitempty"`
	Go          string `json:"go"`
	// Filesystem is the type of the file system holding the work
	// directory (ext4, xfs, tmpfs…), where every byte is written.
	Filesystem string `json:"filesystem,omitempty"`
	// TimerSlackNS is the timer slack nuage's processes ran with
	// (internal/timerslack), and PeerTimerSlackNS the one the peers ran
	// with: the slack the benchmark itself was started with, as a shell
	// would give them. 0 where the system has none.
	TimerSlackNS     int64 `json:"timer_slack_ns,omitempty"`
	PeerTimerSlackNS int64 `json:"peer_timer_slack_ns,omitempty"`
}

// Setup is the network and workload the run used.
type Setup struct {
	Size          int64 `json:"size"`
	Nodes         int   `json:"nodes"`
	K             int   `json:"k"`
	N             int   `json:"n"`
	SegmentSize   int64 `json:"segment_size"`
	BlockSize     int   `json:"block_size"`
	SmallFiles    int   `json:"small_files"`
	SmallFileSize int   `json:"small_file_size"`
	RangeSize     int64 `json:"range_size"`
	Peers         bool  `json:"peers"`
	// Runs is how many times each large-file transfer, nuage's and the
	// peers', ran (see Transfer.RunSeconds).
	Runs int `json:"runs"`
}

// Nuage holds the client-side measurements. Every figure comes from a
// separate client process; the network runs in the benchmarking process.
type Nuage struct {
	Put Transfer `json:"put"`
	Get Transfer `json:"get"`
	// FirstByte is the time to the first plaintext byte of a whole-file
	// download; Range the time to the first byte (and to the end) of a
	// RangeSize read from the middle of the file.
	FirstByte Latency `json:"first_byte"`
	Range     Latency `json:"range"`
	// SmallPut is a recursive put of SmallFiles files; SmallList a
	// recursive listing of them.
	SmallPut  FileRate `json:"small_put"`
	SmallList FileRate `json:"small_list"`
}

// Transfer is one timed process moving Bytes bytes.
type Transfer struct {
	Bytes int64 `json:"bytes"`
	// Seconds is the wall time of the process plus a sync(2) after it
	// exits, so that data a tool leaves in the page cache is counted.
	Seconds float64 `json:"seconds"`
	MBps    float64 `json:"mb_per_s"`
	// CPUSeconds is the user+system time of the measured process alone;
	// CPUPerGiB the same per GiB moved.
	CPUSeconds float64 `json:"cpu_seconds"`
	CPUPerGiB  float64 `json:"cpu_seconds_per_gib"`
	// PeakRSS is the process's peak resident memory in bytes (0: unknown).
	PeakRSS int64 `json:"peak_rss_bytes"`
	// ServerCPUPerGiB is the CPU the network (coordinator and nodes, in
	// the benchmarking process) spent per GiB during the transfer; only
	// for nuage.
	ServerCPUPerGiB float64 `json:"server_cpu_seconds_per_gib,omitempty"`
	// Verified reports that the bytes read back equal the input.
	Verified bool `json:"verified,omitempty"`
	// Error is set when the operation failed or was skipped.
	Error string `json:"error,omitempty"`
	// RunSeconds holds every run's Seconds, in the order they ran, when
	// the operation ran more than once (Setup.Runs). The other figures
	// are then those of the median run by time (with an even count, the
	// slower of the middle two), except PeakRSS, the highest of any run.
	RunSeconds []float64 `json:"run_seconds,omitempty"`
}

// OK reports whether the transfer produced a figure.
func (t Transfer) OK() bool { return t.Error == "" && t.Seconds > 0 }

// Latency is the median of several timed reads.
type Latency struct {
	Runs int `json:"runs"`
	// FirstByteSeconds is the median time from the read call to the first
	// plaintext byte handed to the writer.
	FirstByteSeconds float64 `json:"first_byte_seconds"`
	// TotalSeconds is the median time to the last byte (ranges only).
	TotalSeconds float64 `json:"total_seconds,omitempty"`
	Offset       int64   `json:"offset"`
	Length       int64   `json:"length"`
	Error        string  `json:"error,omitempty"`
}

// FileRate is a timed operation over many files.
type FileRate struct {
	Files          int     `json:"files"`
	Folders        int     `json:"folders"`
	Seconds        float64 `json:"seconds"`
	FilesPerSecond float64 `json:"files_per_s"`
	PeakRSS        int64   `json:"peak_rss_bytes"`
	Error          string  `json:"error,omitempty"`
}

// Ceilings are the stage ceilings measured in the same run and the
// pipeline ceilings they imply (see Model).
type Ceilings struct {
	Stages []Stage  `json:"stages"`
	Put    Pipeline `json:"put"`
	Get    Pipeline `json:"get"`
	// Model is the formula the pipeline ceilings use, in words.
	Model string `json:"model"`
	Error string `json:"error,omitempty"`
}

// Stage names, as they appear in Stage.Name.
const (
	StageAES    = "aes-256-gcm"
	StageRS     = "reed-solomon"
	StageBLAKE3 = "blake3"
	StageTLS    = "tls-loopback"
	StageDisk   = "write-fsync"
	StageRead   = "read"
)

// Stage is one stage of the data path measured alone.
type Stage struct {
	Name  string `json:"name"`
	Label string `json:"label"`
	// Bytes is how much input the stage processed, in Seconds of wall
	// time and CPUSeconds of process CPU time (all threads).
	Bytes      int64   `json:"bytes"`
	Seconds    float64 `json:"seconds"`
	CPUSeconds float64 `json:"cpu_seconds"`
	// MBps is the stage's wall-clock rate on its own input.
	MBps float64 `json:"mb_per_s"`
	// CPUPerGiB is CPU seconds per GiB of the stage's input.
	CPUPerGiB float64 `json:"cpu_seconds_per_gib"`
	// PutPerByte and GetPerByte are how many bytes of this stage's input
	// one plaintext byte costs in a put and a get.
	PutPerByte float64 `json:"put_bytes_per_plaintext_byte"`
	GetPerByte float64 `json:"get_bytes_per_plaintext_byte"`
	// PutAlone is the plaintext MB/s a put could reach if this stage were
	// its only cost (see Model).
	PutAlone float64 `json:"put_alone_mb_per_s"`
	// Pass is the measuring pass the figures come from: every stage is
	// measured before the client measurements (1) and after them (2),
	// and the better pass is kept, since a ceiling is the best the
	// machine can do.
	Pass int `json:"pass"`
}

// Pipeline is a pipeline ceiling: the plaintext rate the machine allows
// given the measured stage costs (see Model).
type Pipeline struct {
	// CPUPerGiB is the CPU time, client and nodes together, one plaintext
	// GiB costs; CPUBound the rate Cores such seconds per second allow.
	CPUPerGiB float64 `json:"cpu_seconds_per_gib"`
	Cores     int     `json:"cores"`
	CPUBound  float64 `json:"cpu_bound_mb_per_s"`
	// DiskBound is the rate the measured write+fsync allows.
	DiskBound float64 `json:"disk_bound_mb_per_s"`
	// MBps is the ceiling: min(CPUBound, DiskBound).
	MBps  float64 `json:"mb_per_s"`
	Bound string  `json:"bound"` // "cpu" or "disk"
}

// Peer operations, as they appear in PeerResult.Op.
const (
	OpPut = "put"
	OpGet = "get"
)

// PeerResult is one operation of a peer tool on the same file and disk.
type PeerResult struct {
	Tool    string `json:"tool"`
	Version string `json:"version,omitempty"`
	// Op is OpPut (store/encrypt) or OpGet (fetch/decrypt).
	Op string `json:"op"`
	// Label describes what ran, e.g. "rclone copy → crypt remote".
	Label     string   `json:"label"`
	Installed bool     `json:"installed"`
	Install   string   `json:"install,omitempty"`
	Transfer  Transfer `json:"transfer"`
}
