package feature

import (
	"fmt"
	"io"
	"slices"
	"text/tabwriter"

	"github.com/wslkernel/wslkernel/internal/kconfig"
)

// Report is what kbuild features prints: every feature, whether the profile ships it and,
// given a configured .config, whether that config provides it.
type Report struct {
	Set     *Set
	Profile []string // the profile's feature names
	Arch    string
	Final   *kconfig.Config // nil: list only
	Rules   *kconfig.Rules  // nil: name what is missing without Kconfig's explanation
}

// Write prints the table, then for every feature the config does not provide, why. It returns
// how many of the profile's features are not provided.
func (r Report) Write(w io.Writer) (int, error) {
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
			switch lines := f.Explain(r.Arch, r.Final, r.Rules); {
			case !f.AppliesTo(r.Arch):
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
