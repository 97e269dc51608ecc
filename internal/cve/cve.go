// Package cve reads the Linux kernel CNA's published CVE records (CVE JSON 5, as in the CNA's
// vulns repository under cve/published/) and says which a kernel version is affected by, from
// the records' per-stable-branch version ranges.
package cve

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Record is the part of a CVE record the notes need.
type Record struct {
	ID       string
	Title    string
	affected []product
}

type product struct {
	DefaultStatus string    `json:"defaultStatus"`
	Versions      []version `json:"versions"`
}

type version struct {
	Version         string `json:"version"`
	LessThan        string `json:"lessThan"`
	LessThanOrEqual string `json:"lessThanOrEqual"`
	Status          string `json:"status"`
	VersionType     string `json:"versionType"`
}

type recordJSON struct {
	DataType    string `json:"dataType"`
	CVEMetadata struct {
		CVEID string `json:"cveID"`
		State string `json:"state"`
	} `json:"cveMetadata"`
	Containers struct {
		CNA struct {
			Title        string    `json:"title"`
			Affected     []product `json:"affected"`
			Descriptions []struct {
				Lang  string `json:"lang"`
				Value string `json:"value"`
			} `json:"descriptions"`
		} `json:"cna"`
	} `json:"containers"`
}

// Load reads every *.json record under dir (published records only); a file that is not a CVE
// record is an error naming it.
func Load(dir string) ([]Record, error) {
	var out []Record
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(path, ".json") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var rj recordJSON
		if err := json.Unmarshal(data, &rj); err != nil {
			return fmt.Errorf("cve: %s: %w", path, err)
		}
		if rj.DataType != "CVE_RECORD" || rj.CVEMetadata.CVEID == "" {
			return fmt.Errorf("cve: %s is not a CVE JSON 5 record (dataType %q)", path, rj.DataType)
		}
		if rj.CVEMetadata.State != "PUBLISHED" {
			return nil
		}
		r := Record{ID: rj.CVEMetadata.CVEID, Title: rj.Containers.CNA.Title, affected: rj.Containers.CNA.Affected}
		if r.Title == "" {
			for _, d := range rj.Containers.CNA.Descriptions {
				if d.Lang == "en" {
					// "In the Linux kernel, the following vulnerability has been resolved:\n\n<subject>\n…"
					parts := strings.SplitN(d.Value, "\n\n", 3)
					if len(parts) > 1 {
						r.Title = strings.TrimSpace(parts[1])
					}
				}
			}
		}
		out = append(out, r)
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, err
}

// Affects reports whether the record says kernel version v (x.y.z) is affected. The records give,
// per product entry, a default status and version ranges; git commit ranges are skipped (we
// judge by release numbers). v is unaffected when an unaffected range holds it; otherwise
// affected when the default is affected or an affected range holds it.
func (r Record) Affects(v string) bool {
	affected := false
	for _, p := range r.affected {
		semver := false
		for _, ver := range p.Versions {
			if ver.VersionType == "git" {
				continue
			}
			semver = true
			if !ver.isRange() {
				continue // "version": "6.3", "status": "affected" marks where it came in
			}
			if ver.holds(v) {
				if ver.Status == "unaffected" {
					return false
				}
				affected = true
			}
		}
		if semver && p.DefaultStatus == "affected" {
			affected = true
		}
	}
	return affected
}

// Fixed lists the records that affect from and not to: what moving from one release to the
// other fixes.
func Fixed(records []Record, from, to string) []Record {
	var out []Record
	for _, r := range records {
		if r.Affects(from) && !r.Affects(to) {
			out = append(out, r)
		}
	}
	return out
}

func (v version) isRange() bool { return v.LessThan != "" || v.LessThanOrEqual != "" }

// holds reports whether x is in [Version, LessThan) or [Version, LessThanOrEqual], where an upper
// bound may end in ".*" (the whole stable branch) or be "*" (everything after).
func (v version) holds(x string) bool {
	if cmp(x, v.Version) < 0 {
		return false
	}
	switch {
	case v.LessThan != "":
		return cmp(x, v.LessThan) < 0
	case v.LessThanOrEqual == "*":
		return true
	case strings.HasSuffix(v.LessThanOrEqual, ".*"):
		prefix := strings.TrimSuffix(v.LessThanOrEqual, ".*")
		n := len(strings.Split(prefix, "."))
		parts := strings.Split(x, ".")
		return cmp(strings.Join(parts[:min(n, len(parts))], "."), prefix) <= 0
	default:
		return cmp(x, v.LessThanOrEqual) <= 0
	}
}

// cmp compares dotted version numbers numerically ("6.12.99" < "6.12.118"); a missing part is 0,
// and "-rc" suffixes sort before the release.
func cmp(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(as), len(bs)); i++ {
		x, y := part(as, i), part(bs, i)
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

func part(p []string, i int) int {
	if i >= len(p) {
		return 0
	}
	s, _, _ := strings.Cut(p[i], "-")
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0
	}
	return n
}
