package cve

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The fixture is five records in the CNA's format: one fixed in 6.12.118, one fixed long before,
// one from a later series, one not yet fixed in 6.12, one rejected.
func TestFixedBetweenTwoPointReleases(t *testing.T) {
	records, err := Load("testdata/published")
	if err != nil {
		t.Fatal(err)
	}
	if len(records) != 4 {
		t.Fatalf("loaded %d records, want the 4 published", len(records))
	}
	var ids []string
	for _, r := range Fixed(records, "6.12.117", "6.12.118") {
		ids = append(ids, r.ID+" "+r.Title)
	}
	if got := strings.Join(ids, "; "); got != "CVE-2026-10001 hv_sock: fix a use-after-free when the host closes early" {
		t.Errorf("fixed by 6.12.118: %s", got)
	}
	for _, c := range []struct {
		id, version string
		affected    bool
	}{
		{"CVE-2026-10001", "5.4.1", false}, {"CVE-2026-10001", "6.6.119", true}, {"CVE-2026-10001", "6.6.120", false},
		{"CVE-2026-10001", "6.12.99", true}, {"CVE-2026-10001", "6.12.118", false}, {"CVE-2026-10001", "6.19.1", false},
		{"CVE-2026-10002", "6.12.109", true}, {"CVE-2026-10002", "6.12.117", false},
		{"CVE-2026-10003", "6.12.118", false}, {"CVE-2026-10003", "6.13.2", true},
		{"CVE-2026-10004", "6.12.118", true},
	} {
		for _, r := range records {
			if r.ID == c.id && r.Affects(c.version) != c.affected {
				t.Errorf("%s affects %s = %v, want %v", c.id, c.version, !c.affected, c.affected)
			}
		}
	}
}

func TestLoadRefusesWhatIsNotARecord(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "x.json"), []byte(`{"hello": 1}`), 0o644)
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "x.json is not a CVE JSON 5 record") {
		t.Errorf("Load = %v", err)
	}
	os.WriteFile(filepath.Join(dir, "x.json"), []byte(`{`), 0o644)
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "x.json") {
		t.Errorf("Load(broken) = %v", err)
	}
}

func FuzzCompare(f *testing.F) {
	f.Add("6.12.118", "6.12.99")
	f.Fuzz(func(t *testing.T, a, b string) {
		if cmp(a, b) != -cmp(b, a) {
			t.Fatalf("cmp(%q, %q) is not antisymmetric", a, b)
		}
	})
}
