package metrics

import "github.com/prometheus/client_golang/prometheus"

// Analytics are the SQL applications' series, by application.
type Analytics struct {
	InputRecords  *prometheus.CounterVec // records read from the source
	FailedRecords *prometheus.CounterVec // records that do not fit the schema
	LateRecords   *prometheus.CounterVec // records later than allowed_lateness
	OutputRecords *prometheus.CounterVec // result rows put into the output stream
	Windows       *prometheus.CounterVec // windows emitted
	// WindowLag is how far the newest emitted window's end is behind the
	// wall clock.
	WindowLag *prometheus.GaugeVec
}

// NewAnalytics registers the applications' series on reg.
func NewAnalytics(reg prometheus.Registerer) *Analytics {
	counter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{"application"})
	}
	m := &Analytics{
		InputRecords:  counter("hydrant_analytics_input_records_total", "Records a SQL application read from its source stream."),
		FailedRecords: counter("hydrant_analytics_failed_records_total", "Records that did not fit a SQL application's schema: in no window."),
		LateRecords:   counter("hydrant_analytics_late_records_total", "Records whose event time came after their windows were emitted (more than allowed_lateness late): in the error output."),
		OutputRecords: counter("hydrant_analytics_output_records_total", "Result rows a SQL application put into its output stream."),
		Windows:       counter("hydrant_analytics_windows_total", "Windows a SQL application emitted (with results or none)."),
		WindowLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "hydrant_analytics_window_lag_seconds",
			Help: "How far the end of the newest window a SQL application emitted is behind the clock."}, []string{"application"}),
	}
	reg.MustRegister(m.InputRecords, m.FailedRecords, m.LateRecords, m.OutputRecords, m.Windows, m.WindowLag)
	return m
}
