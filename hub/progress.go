package hub

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// bar draws the progress of one file: bytes, percentage, rate and ETA. On a
// terminal it redraws one line with \r several times a second; elsewhere (a
// log file, CI) it writes a line every few seconds and a last one when done.
type bar struct {
	mu        sync.Mutex
	w         io.Writer
	tty       bool
	name      string
	total     int64 // -1 when unknown
	done      int64
	base      int64 // bytes already there when this run started (resume)
	start     time.Time
	last      time.Time
	every     time.Duration
	lastWidth int
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// newBar returns nil when there is nowhere to draw; a nil *bar ignores calls.
func (c *Client) newBar(name string, total, already int64) *bar {
	if c.Progress == nil {
		return nil
	}
	b := &bar{w: c.Progress, tty: isTerminal(c.Progress), name: name, total: total,
		done: already, base: already, start: time.Now()}
	b.every = c.lineEvery
	if b.every == 0 {
		b.every = 5 * time.Second
	}
	if b.tty {
		b.every = 200 * time.Millisecond
	}
	b.last = b.start
	if b.tty {
		b.draw(b.start, false)
	}
	return b
}

func (b *bar) add(n int64) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done += n
	if now := time.Now(); now.Sub(b.last) >= b.every {
		b.draw(now, false)
	}
}

// restart records that the download started over from zero.
func (b *bar) restart() {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.done, b.base, b.start = 0, 0, time.Now()
	b.mu.Unlock()
}

// finish draws the last line; after a failure it only ends the terminal
// line, so a broken download never reads "done".
func (b *bar) finish(ok bool) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if ok {
		b.draw(time.Now(), true)
	}
	if b.tty {
		fmt.Fprintln(b.w)
	}
}

func (b *bar) draw(now time.Time, final bool) {
	b.last = now
	line := renderBar(b.name, b.done, b.total, b.done-b.base, now.Sub(b.start), final)
	if !b.tty {
		fmt.Fprintln(b.w, line)
		return
	}
	pad := ""
	if n := b.lastWidth - len(line); n > 0 {
		pad = strings.Repeat(" ", n)
	}
	b.lastWidth = len(line)
	fmt.Fprint(b.w, "\r"+line+pad)
}

// renderBar formats one progress line. fetched is what this run downloaded
// in elapsed (the rate ignores bytes resumed from an earlier run).
func renderBar(name string, done, total, fetched int64, elapsed time.Duration, final bool) string {
	var sb strings.Builder
	sb.WriteString(name)
	sb.WriteString("  ")
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(fetched) / s
	}
	if total > 0 {
		pct := float64(done) * 100 / float64(total)
		const width = 24
		fill := int(float64(width) * float64(done) / float64(total))
		fill = min(max(fill, 0), width)
		fmt.Fprintf(&sb, "[%s%s] %5.1f%%  %s / %s", strings.Repeat("#", fill),
			strings.Repeat(".", width-fill), pct, humanBytes(done), humanBytes(total))
	} else {
		sb.WriteString(humanBytes(done))
	}
	if rate > 0 {
		fmt.Fprintf(&sb, "  %s/s", humanBytes(int64(rate)))
	}
	switch {
	case final:
		fmt.Fprintf(&sb, "  done in %s", clock(elapsed))
	case total > 0 && rate > 0:
		fmt.Fprintf(&sb, "  ETA %s", clock(time.Duration(float64(total-done)/rate*float64(time.Second))))
	}
	return sb.String()
}

// humanBytes formats n in decimal units (kB, MB, GB) like the Hub does.
func humanBytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f := float64(n)
	for _, u := range []string{"kB", "MB", "GB", "TB"} {
		f /= unit
		if f < unit || u == "TB" {
			return fmt.Sprintf("%.1f %s", f, u)
		}
	}
	return ""
}

// clock formats d as m:ss or h:mm:ss.
func clock(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	if s < 0 {
		s = 0
	}
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// notef writes a one-line note to Progress, if any.
func (c *Client) notef(format string, args ...any) {
	if c.Progress != nil {
		fmt.Fprintf(c.Progress, format+"\n", args...)
	}
}
