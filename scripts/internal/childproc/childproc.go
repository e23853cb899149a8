// Package childproc measures what a child process costs: wall time, CPU
// time and peak resident memory, as the benchmark scripts report them.
package childproc

import (
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Usage is what one run of a child process cost.
type Usage struct {
	Wall    float64 `json:"wall_seconds"`
	CPU     float64 `json:"cpu_seconds"` // user + system
	PeakRSS int64   `json:"peak_rss_bytes"`
}

// Run runs cmd and returns its wall time, CPU time and peak RSS (the
// child's own rusage). A failed run is an error with its stderr.
func Run(cmd *exec.Cmd) (Usage, error) {
	var errb strings.Builder
	cmd.Stderr = &errb
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start).Seconds()
	if err != nil {
		return Usage{}, fmt.Errorf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, errb.String())
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return Usage{}, fmt.Errorf("no resource usage for %s", cmd.Args[0])
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	return Usage{Wall: wall, CPU: cpu, PeakRSS: ru.Maxrss * 1024}, nil // ru_maxrss is in KiB on Linux
}

// Best runs the command newCmd makes reps times (at least once), calling
// check after each run, and keeps the least wall and CPU time (on a
// shared machine the slower runs measure the neighbours) and the largest
// peak RSS.
func Best(newCmd func() *exec.Cmd, reps int, check func() error) (Usage, error) {
	var best Usage
	for i := range max(reps, 1) {
		u, err := Run(newCmd())
		if err != nil {
			return Usage{}, err
		}
		if check != nil {
			if err := check(); err != nil {
				return Usage{}, err
			}
		}
		if i == 0 {
			best = u
		}
		best.Wall, best.CPU = min(best.Wall, u.Wall), min(best.CPU, u.CPU)
		best.PeakRSS = max(best.PeakRSS, u.PeakRSS)
	}
	return best, nil
}
