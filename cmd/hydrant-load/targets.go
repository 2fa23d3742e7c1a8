package main

import (
	"fmt"
	"math"
	"strings"
)

// The targets issue 17 sets (2 cores, 1 KiB records, fsync before ack).
const (
	targetMiBPerSecond = 100
	// targetDiskFloorRatio is for the native API; the AWS APIs, which
	// carry base64 in JSON, have targetAWSDiskFloorRatio.
	targetDiskFloorRatio    = 0.5
	targetAWSDiskFloorRatio = 0.4
	targetHalfRateP99       = 50 // ms
	targetDeliveredShare    = 0.9
	targetPeakRSSMiB        = 300
	targetEndToEndSeconds   = 60
)

// pacedRSSTargets are the peak RSS targets, in MiB, of the paced rows by
// the MiB/s they are offered; a rate not listed has none.
var pacedRSSTargets = map[float64]float64{10: 150, 40: 250}

// diskFloorRatioTarget is the share of the disk floor's records/s the
// closed-loop row target should reach.
func diskFloorRatioTarget(target string) float64 {
	if target == targetNative {
		return targetDiskFloorRatio
	}
	return targetAWSDiskFloorRatio
}

// closedLoop reports whether target is one of hydrant's APIs driven as
// fast as it takes records, the rows the throughput targets are about.
func closedLoop(target string) bool {
	return target == targetNative || target == targetFirehose || target == targetKinesis
}

// checkTargets compares the hydrant rows with the targets.
func (m *Matrix) checkTargets(opts options) []TargetCheck {
	var checks []TargetCheck
	add := func(met bool, figure, format string, args ...any) {
		checks = append(checks, TargetCheck{Target: fmt.Sprintf(format, args...), Figure: figure, Met: met})
	}
	peakRSS := 0.0
	for _, row := range m.Rows {
		if row.Result == nil || !strings.HasPrefix(row.Target, "hydrant") {
			continue
		}
		if p := row.Result.Process; p != nil {
			peakRSS = max(peakRSS, p.PeakRSSMiB)
		}
		r := row.Result
		switch {
		case row.Target == targetNativeHalf:
			add(r.LatencyMillis.P99 <= targetHalfRateP99 && row.Error == "", fmt.Sprintf("p99 %.1f ms", r.LatencyMillis.P99),
				"p99 ≤ %d ms at half the max throughput (native, %d producers, %.1f MiB/s offered)",
				targetHalfRateP99, row.Concurrency, row.OfferedRecordsPerSecond*float64(opts.recordSize)/(1<<20))
		case row.Target == targetNativeConsumer:
			rss := peakRSSOf(r)
			add(rss > 0 && rss <= targetPeakRSSMiB && row.Error == "", fmt.Sprintf("%.0f MiB", rss),
				"peak RSS ≤ %d MiB at full speed with a file delivery and a GetRecords consumer (native, %d producers)",
				targetPeakRSSMiB, row.Concurrency)
		case strings.HasPrefix(row.Target, pacedPrefix):
			mib := row.OfferedRecordsPerSecond * float64(opts.recordSize) / (1 << 20)
			want, ok := pacedRSSTargets[math.Round(mib*1000)/1000]
			if !ok {
				continue
			}
			rss := peakRSSOf(r)
			delivery := "with a file delivery"
			if !opts.deliver {
				delivery = "without a delivery (-deliver=false)"
			}
			add(rss > 0 && rss <= want && row.Error == "", fmt.Sprintf("%.0f MiB", rss),
				"peak RSS ≤ %.0f MiB at a paced %g MiB/s %s (native, %s)", want, mib, delivery, r.Duration)
		case closedLoop(row.Target):
			api := strings.TrimPrefix(row.Target, "hydrant ")
			add(r.MiBPerSecond >= targetMiBPerSecond && row.Error == "", fmt.Sprintf("%.1f MiB/s", r.MiBPerSecond),
				"durable ingest ≥ %d MiB/s (%s, %d producers)", targetMiBPerSecond, api, row.Concurrency)
			if row.DiskFloorRatio > 0 {
				want := diskFloorRatioTarget(row.Target)
				add(row.DiskFloorRatio >= want && row.Error == "", ratioFigure(row.DiskFloorRatio, want),
					"≥ %.1f× the disk floor (%s, %d producers)", want, api, row.Concurrency)
			}
		}
	}
	for _, e := range m.EndToEnd {
		if e.Ingest == nil {
			continue
		}
		if p := e.Ingest.Process; p != nil {
			peakRSS = max(peakRSS, p.PeakRSSMiB)
		}
		window := e.Duration + " window"
		if opts.e2eDuration.Seconds() < targetEndToEndSeconds {
			window += fmt.Sprintf(", shorter than the target's %ds", targetEndToEndSeconds)
		}
		add(e.DeliveredShare >= targetDeliveredShare && e.Error == "",
			fmt.Sprintf("%.0f%% (%.0f of %.0f records/s)", 100*e.DeliveredShare, e.DeliveredRecordsPerSecond, e.Ingest.RecordsPerSecond),
			"end to end to %s ≥ %.0f%% of ingest (%d producers, %s)", e.Destination, 100*targetDeliveredShare, e.Concurrency, window)
	}
	if r := m.Restart; r != nil && r.Skipped == "" {
		add(r.Error == "" && r.ReadySeconds <= restartTargetSeconds,
			fmt.Sprintf("ready in %.2f s, first put acknowledged in %.2f s", r.ReadySeconds, r.FirstPutSeconds),
			"restart after SIGKILL ready ≤ %d s (measured with %g GiB of log; the target is for %d GiB)",
			restartTargetSeconds, r.GiB, restartTargetGiB)
	}
	if peakRSS > 0 {
		add(peakRSS <= targetPeakRSSMiB, fmt.Sprintf("%.0f MiB", peakRSS),
			"peak RSS ≤ %d MiB (the largest of the hydrant runs)", targetPeakRSSMiB)
	}
	return checks
}

// peakRSSOf is the peak RSS of r's process in MiB, 0 when unknown.
func peakRSSOf(r *Result) float64 {
	if r.Process == nil {
		return 0
	}
	return r.Process.PeakRSSMiB
}

// ratioFigure prints ratio with two decimals, or four when two would
// round it up to want, which it is short of.
func ratioFigure(ratio, want float64) string {
	if two := fmt.Sprintf("%.2f", ratio); ratio < want && two == fmt.Sprintf("%.2f", want) {
		return fmt.Sprintf("%.4f×", ratio)
	}
	return fmt.Sprintf("%.2f×", ratio)
}
