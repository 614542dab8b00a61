package egress

import (
	"encoding/json"
	"os"
	"testing"
)

type goldenEntries struct {
	Valid []struct {
		Entry     string      `json:"entry"`
		Canonical string      `json:"canonical"`
		Kind      string      `json:"kind"`
		Ports     [][2]uint16 `json:"ports"`
	} `json:"valid"`
	Invalid []string `json:"invalid"`
}

// The TypeScript side (@axo/podman-args) reads the same file: both parse entries alike.
func TestGoldenEntries(t *testing.T) {
	data, err := os.ReadFile("../../testdata/egress-entries.json")
	if err != nil {
		t.Fatal(err)
	}
	var g goldenEntries
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	kinds := map[Kind]string{KindName: "name", KindSuffix: "suffix", KindPrefix: "prefix"}
	for _, v := range g.Valid {
		e, err := ParseEntry(v.Entry)
		if err != nil {
			t.Errorf("ParseEntry(%q): %v", v.Entry, err)
			continue
		}
		if e.String() != v.Canonical || kinds[e.Kind] != v.Kind {
			t.Errorf("ParseEntry(%q) = %q (%s), want %q (%s)", v.Entry, e.String(), kinds[e.Kind], v.Canonical, v.Kind)
		}
		var ports [][2]uint16
		for _, r := range e.Ports {
			ports = append(ports, [2]uint16{r.Lo, r.Hi})
		}
		if len(ports) != len(v.Ports) || (len(ports) == 1 && ports[0] != v.Ports[0]) {
			t.Errorf("ParseEntry(%q) ports %v, want %v", v.Entry, ports, v.Ports)
		}
	}
	for _, in := range g.Invalid {
		if e, err := ParseEntry(in); err == nil {
			t.Errorf("ParseEntry(%q) = %q, want an error", in, e.String())
		}
	}
}

func TestEntryPorts(t *testing.T) {
	e, _ := ParseEntry("example.com")
	for port, want := range map[uint16]bool{80: true, 443: true, 22: false, 8080: false} {
		if e.AllowsPort(port) != want {
			t.Errorf("example.com allows %d: %v", port, !want)
		}
	}
	e, _ = ParseEntry("example.com:8000-8100")
	if !e.AllowsPort(8000) || !e.AllowsPort(8100) || e.AllowsPort(7999) || e.AllowsPort(443) {
		t.Error("range 8000-8100 misapplied")
	}
}

func TestWildcardMatchesSubdomainsOnly(t *testing.T) {
	e, err := ParseEntry("*.example.com")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{
		"a.example.com":          true,
		"deep.a.example.com":     true,
		"example.com":            false, // the apex needs its own entry
		"evil-example.com":       false,
		"evilexample.com":        false,
		"example.com.evil.org":   false,
		"a.example.com.evil.org": false,
		"xexample.com":           false,
		"a.example.co":           false,
		"a.example.comm":         false,
	} {
		if got := e.MatchesName(name); got != want {
			t.Errorf("*.example.com matches %s: %v, want %v", name, got, want)
		}
	}
	exact, _ := ParseEntry("example.com")
	if exact.MatchesName("a.example.com") || !exact.MatchesName("example.com") {
		t.Error("an exact entry matches only its name")
	}
}
