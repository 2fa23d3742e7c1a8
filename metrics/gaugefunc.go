package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// GaugeFuncVec is a gauge with one label whose values are computed at
// scrape time, by a function set per label value: for state that is cheap to
// read but would be costly to keep current in a gauge (an age, say).
type GaugeFuncVec struct {
	desc *prometheus.Desc

	mu  sync.Mutex
	fns map[string]*gaugeFunc
}

type gaugeFunc struct{ f func() float64 }

// NewGaugeFuncVec returns a vector with one label; register it to use it.
func NewGaugeFuncVec(opts prometheus.GaugeOpts, label string) *GaugeFuncVec {
	return &GaugeFuncVec{
		desc: prometheus.NewDesc(prometheus.BuildFQName(opts.Namespace, opts.Subsystem, opts.Name), opts.Help,
			[]string{label}, opts.ConstLabels),
		fns: make(map[string]*gaugeFunc),
	}
}

// Set makes f the value of the series labelled value, replacing a function
// set before. remove deletes the series — unless another Set has replaced
// f meanwhile, so that a component that stops does not remove the series of
// its successor of the same name. f must be safe to call at any time.
func (v *GaugeFuncVec) Set(value string, f func() float64) (remove func()) {
	gf := &gaugeFunc{f: f}
	v.mu.Lock()
	v.fns[value] = gf
	v.mu.Unlock()
	return func() {
		v.mu.Lock()
		defer v.mu.Unlock()
		if v.fns[value] == gf {
			delete(v.fns, value)
		}
	}
}

// Describe implements prometheus.Collector.
func (v *GaugeFuncVec) Describe(ch chan<- *prometheus.Desc) { ch <- v.desc }

// Collect implements prometheus.Collector: it calls every function.
func (v *GaugeFuncVec) Collect(ch chan<- prometheus.Metric) {
	v.mu.Lock()
	values := make(map[string]*gaugeFunc, len(v.fns))
	for value, gf := range v.fns {
		values[value] = gf
	}
	v.mu.Unlock()
	for value, gf := range values { // outside the lock: a function may take its own
		ch <- prometheus.MustNewConstMetric(v.desc, prometheus.GaugeValue, gf.f(), value)
	}
}
