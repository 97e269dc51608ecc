package conformance

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Probe is one probe's result, as the guest reported it.
type Probe struct {
	Feature string  `json:"feature"` // as configs/features/<feature>.config names it
	Name    string  `json:"probe"`
	Status  string  `json:"status"` // pass, fail or timeout
	Seconds float64 `json:"seconds"`
	Output  string  `json:"output"` // the tail of what the probe printed
}

// Pass says whether the probe passed.
func (p Probe) Pass() bool { return p.Status == "pass" }

// Result is what a conformance boot showed; it goes into the manifest.
type Result struct {
	Release         string        `json:"release"`
	Probes          []Probe       `json:"probes"`
	TimeToInit      time.Duration `json:"time_to_init"`       // systemd's start as PID 1 in the root file system
	TimeToMultiUser time.Duration `json:"time_to_multi_user"` // multi-user.target reached
	Wall            time.Duration `json:"wall"`
	ConsoleLog      string        `json:"console_log"`
}

// Failed is the probes that did not pass.
func (r *Result) Failed() []Probe {
	var out []Probe
	for _, p := range r.Probes {
		if !p.Pass() {
			out = append(out, p)
		}
	}
	return out
}

// ErrConformance is wrapped by every failed conformance run.
var ErrConformance = errors.New("conformance failed")

// ProbeError is a run whose probes did not all pass.
type ProbeError struct {
	Failed []Probe
}

func (e *ProbeError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v: %d probe(s) did not pass", ErrConformance, len(e.Failed))
	for _, p := range e.Failed {
		fmt.Fprintf(&b, "\nfeature %s, probe %s: %s after %.1fs; its output:\n  %s", p.Feature, p.Name, p.Status, p.Seconds,
			strings.ReplaceAll(strings.TrimRight(p.Output, "\n"), "\n", "\n  "))
	}
	return b.String()
}

func (e *ProbeError) Unwrap() error { return ErrConformance }

// record is one JSON line of the guest's results port.
type record struct {
	Type        string `json:"type"`
	Release     string `json:"release"`
	InitUS      int64  `json:"init_us"`
	MultiUserUS int64  `json:"multi_user_us"`
	Probe
}

// parsed is what the results port held.
type parsed struct {
	started, done bool
	result        Result
}

// parseResults reads the guest's JSON lines. A line that is not JSON (a guest killed mid-write)
// is an error naming its number.
func parseResults(data []byte) (*parsed, error) {
	var p parsed
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var rec record
		if err := json.Unmarshal(line, &rec); err != nil {
			return &p, fmt.Errorf("results line %d is not a JSON record (%v): %.200s", n, err, line)
		}
		switch rec.Type {
		case "start":
			p.started, p.result.Release = true, rec.Release
		case "boot":
			p.result.TimeToInit = time.Duration(rec.InitUS) * time.Microsecond
			p.result.TimeToMultiUser = time.Duration(rec.MultiUserUS) * time.Microsecond
		case "probe":
			if rec.Feature == "" || rec.Name == "" {
				return &p, fmt.Errorf("results line %d: a probe record without feature or probe name: %.200s", n, line)
			}
			p.result.Probes = append(p.result.Probes, rec.Probe)
		case "done":
			p.done = true
		default:
			return &p, fmt.Errorf("results line %d: unknown record type %q", n, rec.Type)
		}
	}
	return &p, sc.Err()
}

// check turns what the port held into the run's outcome: every probe that ran must have passed,
// the guest must have finished, and it must have run the kernel asked for.
func (p *parsed) check(wantRelease string) error {
	switch {
	case !p.started:
		return errors.New("the guest's probe runner never started (no start record on the virtio-serial port wslkernel.results: did systemd reach basic.target, and did wslk-init make /run/wslk-conformance? the kernel needs VIRTIO_CONSOLE)")
	case wantRelease != "" && p.result.Release != wantRelease:
		return fmt.Errorf("the guest runs kernel %s, want %s", p.result.Release, wantRelease)
	}
	if failed := p.result.Failed(); len(failed) > 0 {
		return &ProbeError{Failed: failed}
	}
	if !p.done {
		last := "before the first probe"
		if n := len(p.result.Probes); n > 0 {
			last = "after probe " + p.result.Probes[n-1].Feature + "/" + p.result.Probes[n-1].Name
		}
		return fmt.Errorf("the guest's probe runner stopped %s without finishing", last)
	}
	return nil
}
