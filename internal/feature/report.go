package feature

import (
	"fmt"
	"io"
	"slices"
	"text/tabwriter"

	"github.com/wslkernel/wslkernel/internal/kconfig"
	"github.com/wslkernel/wslkernel/internal/version"
)

// Report is what kbuild features prints: every feature, whether the profile ships it and,
// given a configured .config, whether that config provides it on the tree's series.
type Report struct {
	Set     *Set
	Profile []string // the profile's feature names
	Arch    string
	Final   *kconfig.Config // nil: list only
	Rules   *kconfig.Rules  // nil: name what is missing without Kconfig's explanation
	// Series is the kernel series Final is judged on (its tree's), and SeriesFrom where that
	// came from, for the line that says so.
	Series     version.Series
	SeriesFrom string
}

// Write prints the table, then for every feature the config does not provide, why. It returns
// how many of the profile's features are not provided. Judged on a config, a line above the
// table names the series; a feature none of whose essential symbols its fragments set on that
// series is "-", as one not for the arch is.
func (r Report) Write(w io.Writer) (int, error) {
	if r.Final != nil {
		from := ""
		if r.SeriesFrom != "" {
			from = " (" + r.SeriesFrom + ")"
		}
		if _, err := fmt.Fprintf(w, "judged on %s, series %s%s\n", r.Arch, r.Series, from); err != nil {
			return 0, err
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := "FEATURE\tPROFILE\t"
	if r.Final != nil {
		head += r.Arch + "\t"
	}
	fmt.Fprintln(tw, head+"WHAT USERS GET")
	var why []string
	missing := 0
	for _, name := range r.Set.Names() {
		f := r.Set.Features[name]
		inProfile := slices.Contains(r.Profile, name)
		row := fmt.Sprintf("%s\t%s\t", name, yesNo(inProfile))
		if r.Final != nil {
			state := "provided"
			switch lines := f.Explain(r.Arch, r.Series, r.Final, r.Rules); {
			case !f.AppliesTo(r.Arch) || len(f.Essentials(r.Arch, r.Series)) == 0:
				state = "-"
			case len(lines) > 0:
				state = "MISSING"
				why = append(why, "", name+": "+f.Summary)
				why = append(why, lines...)
				if inProfile {
					missing++
				}
			}
			row += state + "\t"
		}
		fmt.Fprintln(tw, row+f.Summary)
	}
	if err := tw.Flush(); err != nil {
		return missing, err
	}
	for _, line := range why {
		if _, err := fmt.Fprintln(w, line); err != nil {
			return missing, err
		}
	}
	return missing, nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
