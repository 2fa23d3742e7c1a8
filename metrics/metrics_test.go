package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A series' function is replaced by a later Set of the same label value,
// and the earlier one's remove then leaves the series alone.
func TestGaugeFuncVec(t *testing.T) {
	v := NewGaugeFuncVec(prometheus.GaugeOpts{Name: "age_seconds", Help: "Age."}, "delivery")
	const head = "# HELP age_seconds Age.\n# TYPE age_seconds gauge\n"
	removeA := v.Set("a", func() float64 { return 1 })
	v.Set("b", func() float64 { return 2 })
	steps := []struct {
		name string
		do   func()
		want string
	}{
		{"two series", func() {}, `age_seconds{delivery="a"} 1` + "\n" + `age_seconds{delivery="b"} 2` + "\n"},
		{"a replaced", func() { v.Set("a", func() float64 { return 3 }) }, `age_seconds{delivery="a"} 3` + "\n" + `age_seconds{delivery="b"} 2` + "\n"},
		{"the replaced one's remove keeps its successor", removeA, `age_seconds{delivery="a"} 3` + "\n" + `age_seconds{delivery="b"} 2` + "\n"},
	}
	for _, s := range steps {
		s.do()
		if err := testutil.CollectAndCompare(v, strings.NewReader(head+s.want)); err != nil {
			t.Errorf("%s: %v", s.name, err)
		}
	}
	removeC := v.Set("c", func() float64 { return 4 })
	removeC()
	if n := testutil.CollectAndCount(v); n != 2 {
		t.Errorf("%d series after c was removed, want 2", n)
	}
}

// A stream's put counters are resolved once; counting a put then costs no
// allocation.
func TestPutsResolvedOnce(t *testing.T) {
	m := NewIngest(prometheus.NewRegistry())
	p := m.Puts("events", APINative)
	if m.Puts("events", APINative) != p || m.Puts("events", APIKinesis) == p {
		t.Fatal("Puts does not return the same counters for the same stream and API")
	}
	if allocs := testing.AllocsPerRun(100, func() { m.Puts("events", APINative).Count(3, 30) }); allocs != 0 {
		t.Errorf("counting a put allocates %v times", allocs)
	}
	if got := testutil.ToFloat64(m.Records.WithLabelValues("events", APINative)); got != 303 {
		t.Errorf("records = %v, want 303", got)
	}
	var none *Puts
	none.Count(1, 1) // a target without counters counts nothing
}
