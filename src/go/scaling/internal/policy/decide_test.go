package policy

import (
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/fleetops/scaling/internal/alarm"
)

var now = time.Date(2024, 5, 14, 9, 21, 7, 0, time.UTC)

func f(v float64) *float64 { return &v }
func i(v int) *int         { return &v }

// basePolicy: +1 for a breach in [0, 10), +3 for [10, 30), +5 above;
// on OK -1 when at least 20 below the threshold. Bounds [2, 10], cooldown 300s.
func basePolicy() *Policy {
	return &Policy{
		AlarmName: "web-cpu-high",
		Fleet:     "web",
		Region:    "eu-west-1",
		ASGName:   "web-asg",
		OnAlarm: &Action{Direction: Up, Steps: []Step{
			{UpperBound: f(10), Adjustment: 1},
			{LowerBound: f(10), UpperBound: f(30), Adjustment: 3},
			{LowerBound: f(30), Adjustment: 5},
		}},
		OnOK: &Action{Direction: Down, Steps: []Step{
			{LowerBound: f(20), Adjustment: 1},
		}},
		MinCapacity:     i(2),
		MaxCapacity:     i(10),
		CooldownSeconds: 300,
	}
}

func change(state string, threshold float64, points ...float64) *alarm.StateChange {
	return &alarm.StateChange{
		AlarmName:          "web-cpu-high",
		State:              state,
		Timestamp:          now.Add(-time.Second),
		ComparisonOperator: "GreaterThanThreshold",
		ReasonData:         alarm.ReasonData{RecentDatapoints: points, Threshold: threshold, HasThreshold: true},
	}
}

func asg(desired, min, max int) Capacity {
	return Capacity{Known: true, Desired: desired, Min: min, Max: max}
}

func TestDecide(t *testing.T) {
	mod := func(fn func(p *Policy)) *Policy { p := basePolicy(); fn(p); return p }
	tests := []struct {
		name       string
		in         Input
		outcome    Outcome
		from, to   int
		reasonPart string
	}{
		{
			name:    "no policy is reported",
			in:      Input{Change: change("ALARM", 70, 75), Capacity: asg(4, 1, 20)},
			outcome: NoPolicy, reasonPart: `no scaling policy for alarm "web-cpu-high"`,
		},
		{
			name:    "small breach scales by one",
			in:      Input{Change: change("ALARM", 70, 75), Policy: basePolicy(), Capacity: asg(4, 1, 20)},
			outcome: Scale, from: 4, to: 5, reasonPart: "breach 5, step +1, desired 4 -> 5 within [2, 10]",
		},
		{
			name:    "breach uses the largest datapoint",
			in:      Input{Change: change("ALARM", 70, 72, 93.4, 88.1), Policy: basePolicy(), Capacity: asg(4, 1, 20)},
			outcome: Scale, from: 4, to: 7,
		},
		{
			name:    "lower bound is inclusive, upper exclusive",
			in:      Input{Change: change("ALARM", 70, 80), Policy: basePolicy(), Capacity: asg(4, 1, 20)},
			outcome: Scale, from: 4, to: 7,
		},
		{
			name:    "large breach",
			in:      Input{Change: change("ALARM", 70, 130), Policy: basePolicy(), Capacity: asg(4, 1, 20)},
			outcome: Scale, from: 4, to: 9,
		},
		{
			name:    "clamped to policy maximum",
			in:      Input{Change: change("ALARM", 70, 130), Policy: basePolicy(), Capacity: asg(8, 1, 20)},
			outcome: Scale, from: 8, to: 10,
		},
		{
			name:    "clamped to ASG maximum when lower than policy's",
			in:      Input{Change: change("ALARM", 70, 130), Policy: basePolicy(), Capacity: asg(4, 1, 6)},
			outcome: Scale, from: 4, to: 6,
		},
		{
			name:    "already at maximum",
			in:      Input{Change: change("ALARM", 70, 130), Policy: basePolicy(), Capacity: asg(10, 1, 20)},
			outcome: NoChange, from: 10, to: 10, reasonPart: "already at or above the maximum",
		},
		{
			name:    "above maximum never scales further up nor down on ALARM",
			in:      Input{Change: change("ALARM", 70, 130), Policy: basePolicy(), Capacity: asg(12, 1, 20)},
			outcome: NoChange, from: 12, to: 12,
		},
		{
			name:    "below policy minimum: scale-up lifts into bounds",
			in:      Input{Change: change("ALARM", 70, 71), Policy: basePolicy(), Capacity: asg(0, 0, 20)},
			outcome: Scale, from: 0, to: 2,
		},
		{
			name:    "max_step caps the step",
			in:      Input{Change: change("ALARM", 70, 130), Policy: mod(func(p *Policy) { p.MaxStep = 2 }), Capacity: asg(4, 1, 20)},
			outcome: Scale, from: 4, to: 6, reasonPart: "(capped by max_step)",
		},
		{
			name:    "no policy bounds: ASG bounds apply",
			in:      Input{Change: change("ALARM", 70, 130), Policy: mod(func(p *Policy) { p.MinCapacity, p.MaxCapacity = nil, nil }), Capacity: asg(18, 1, 20)},
			outcome: Scale, from: 18, to: 20,
		},
		{
			name:    "disjoint bounds fail",
			in:      Input{Change: change("ALARM", 70, 75), Policy: basePolicy(), Capacity: asg(15, 12, 20)},
			outcome: Failed, reasonPart: "do not intersect",
		},
		{
			name:    "OK without on_ok does nothing",
			in:      Input{Change: change("OK", 70, 10), Policy: mod(func(p *Policy) { p.OnOK = nil }), Capacity: asg(4, 1, 20)},
			outcome: NoChange, reasonPart: "no action for state OK",
		},
		{
			name:    "OK with on_ok scales down when far enough below",
			in:      Input{Change: change("OK", 70, 40, 30), Policy: basePolicy(), Capacity: asg(4, 1, 20)},
			outcome: Scale, from: 4, to: 3, reasonPart: "OK: breach 30, step -1",
		},
		{
			name:    "OK with on_ok but too close to the threshold",
			in:      Input{Change: change("OK", 70, 60), Policy: basePolicy(), Capacity: asg(4, 1, 20)},
			outcome: NoChange, reasonPart: "no step adjustment matches breach size 10",
		},
		{
			name:    "OK at policy minimum",
			in:      Input{Change: change("OK", 70, 10), Policy: basePolicy(), Capacity: asg(2, 1, 20)},
			outcome: NoChange, from: 2, to: 2, reasonPart: "already at or below the minimum",
		},
		{
			name:    "scale-down never raises an ASG below the policy minimum",
			in:      Input{Change: change("OK", 70, 10), Policy: basePolicy(), Capacity: asg(1, 0, 20)},
			outcome: NoChange, from: 1, to: 1,
		},
		{
			name:    "INSUFFICIENT_DATA never scales",
			in:      Input{Change: change("INSUFFICIENT_DATA", 70), Policy: basePolicy(), Capacity: asg(4, 1, 20)},
			outcome: NoChange, reasonPart: "no action for state INSUFFICIENT_DATA",
		},
		{
			name: "LessThan operator: breach is threshold minus the lowest datapoint",
			in: Input{Change: func() *alarm.StateChange {
				c := change("ALARM", 100, 95, 60)
				c.ComparisonOperator = "LessThanThreshold"
				return c
			}(), Policy: basePolicy(), Capacity: asg(4, 1, 20)},
			outcome: Scale, from: 4, to: 9, reasonPart: "breach 40",
		},
		{
			name:    "policy operator overrides the event's",
			in:      Input{Change: change("ALARM", 100, 95, 60), Policy: mod(func(p *Policy) { p.ComparisonOperator = "LessThanOrEqualToThreshold" }), Capacity: asg(4, 1, 20)},
			outcome: Scale, from: 4, to: 9,
		},
		{
			name: "unknown breach is matched as 0",
			in: Input{Change: &alarm.StateChange{AlarmName: "web-cpu-high", State: "ALARM", Timestamp: now},
				Policy: basePolicy(), Capacity: asg(4, 1, 20)},
			outcome: Scale, from: 4, to: 5, reasonPart: "breach unknown",
		},
		{
			name:    "unknown breach with no step from 0 does nothing",
			in:      Input{Change: &alarm.StateChange{AlarmName: "web-cpu-high", State: "OK", Timestamp: now}, Policy: basePolicy(), Capacity: asg(4, 1, 20)},
			outcome: NoChange, reasonPart: "no step adjustment matches",
		},
		{
			name:    "cooldown respected",
			in:      Input{Change: change("ALARM", 70, 75), Policy: basePolicy(), Capacity: asg(4, 1, 20), LastScaledAt: now.Add(-299 * time.Second)},
			outcome: Cooldown, from: 4, to: 5, reasonPart: "cooldown 300s until 2024-05-14T09:21:08Z",
		},
		{
			name:    "cooldown just over",
			in:      Input{Change: change("ALARM", 70, 75), Policy: basePolicy(), Capacity: asg(4, 1, 20), LastScaledAt: now.Add(-300 * time.Second)},
			outcome: Scale, from: 4, to: 5,
		},
		{
			name:    "zero cooldown",
			in:      Input{Change: change("ALARM", 70, 75), Policy: mod(func(p *Policy) { p.CooldownSeconds = 0 }), Capacity: asg(4, 1, 20), LastScaledAt: now},
			outcome: Scale, from: 4, to: 5,
		},
		{
			name:    "active lock refuses",
			in:      Input{Change: change("ALARM", 70, 75), Policy: basePolicy(), Capacity: asg(4, 1, 20), Lock: Lock{Exists: true, Owner: "deploy-123", Kind: "deployment", ExpiresAt: now.Add(time.Minute)}},
			outcome: Locked, reasonPart: `fleet "web" is locked for deployment by deploy-123 until 2024-05-14T09:22:07Z`,
		},
		{
			name:    "lock without expiry refuses",
			in:      Input{Change: change("ALARM", 70, 75), Policy: basePolicy(), Capacity: asg(4, 1, 20), Lock: Lock{Exists: true}},
			outcome: Locked, reasonPart: "(no expiry)",
		},
		{
			name:    "expired lock is free",
			in:      Input{Change: change("ALARM", 70, 75), Policy: basePolicy(), Capacity: asg(4, 1, 20), Lock: Lock{Exists: true, ExpiresAt: now}},
			outcome: Scale, from: 4, to: 5,
		},
		{
			name:    "lock is checked before no-action states",
			in:      Input{Change: change("OK", 70, 75), Policy: mod(func(p *Policy) { p.OnOK = nil }), Lock: Lock{Exists: true, ExpiresAt: now.Add(time.Hour)}},
			outcome: Locked,
		},
		{
			name:    "capacity unknown when an action applies",
			in:      Input{Change: change("ALARM", 70, 75), Policy: basePolicy()},
			outcome: Failed, reasonPart: "capacity of the ASG is unknown",
		},
		{
			name:    "invalid policy",
			in:      Input{Change: change("ALARM", 70, 75), Policy: mod(func(p *Policy) { p.ASGName = ""; p.OnAlarm.Direction = "sideways"; p.MinCapacity = i(11) }), Capacity: asg(4, 1, 20)},
			outcome: Failed, reasonPart: `invalid policy: asg_name is required; on_alarm.direction must be "up" or "down"; min_capacity 11 > max_capacity 10`,
		},
		{
			name:    "zero adjustment",
			in:      Input{Change: change("ALARM", 70, 75), Policy: mod(func(p *Policy) { p.OnAlarm.Steps[0].Adjustment = 0 }), Capacity: asg(4, 1, 20)},
			outcome: NoChange, reasonPart: "adjustment is 0",
		},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			in.Now = now
			got := Decide(in)
			if got.Outcome != tt.outcome {
				t.Fatalf("outcome = %s (%s), want %s", got.Outcome, got.Reason, tt.outcome)
			}
			if tt.from != 0 || tt.to != 0 {
				if got.From != tt.from || got.To != tt.to {
					t.Errorf("from/to = %d/%d, want %d/%d", got.From, got.To, tt.from, tt.to)
				}
			}
			if !strings.Contains(got.Reason, tt.reasonPart) {
				t.Errorf("reason %q does not contain %q", got.Reason, tt.reasonPart)
			}
		})
	}
}

// TestDecideInvariants checks the safety properties on many generated inputs
// (fixed seed, deterministic).
func TestDecideInvariants(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	states := []string{"ALARM", "OK", "INSUFFICIENT_DATA"}
	for n := 0; n < 20000; n++ {
		p := basePolicy()
		p.MinCapacity, p.MaxCapacity = i(rng.Intn(6)), i(4+rng.Intn(10))
		p.MaxStep = rng.Intn(4)
		p.CooldownSeconds = rng.Intn(600)
		if rng.Intn(4) == 0 {
			p.OnOK = nil
		}
		asgMin := rng.Intn(5)
		c := asg(rng.Intn(20), asgMin, asgMin+rng.Intn(20))
		ch := change(states[rng.Intn(3)], 50, rng.Float64()*100, rng.Float64()*100)
		var lock Lock
		if rng.Intn(5) == 0 {
			lock = Lock{Exists: true, ExpiresAt: now.Add(time.Duration(rng.Intn(120)-60) * time.Second)}
		}
		var last time.Time
		if rng.Intn(2) == 0 {
			last = now.Add(-time.Duration(rng.Intn(900)) * time.Second)
		}
		in := Input{Change: ch, Policy: p, Capacity: c, Lock: lock, LastScaledAt: last, Now: now}
		d := Decide(in)
		if d.Outcome == Scale {
			if d.To < d.Min || d.To > d.Max {
				t.Fatalf("target %d outside [%d, %d]: %+v", d.To, d.Min, d.Max, in)
			}
			if d.Min < c.Min || d.Max > c.Max || d.Min < *p.MinCapacity || d.Max > *p.MaxCapacity {
				t.Fatalf("effective bounds [%d, %d] wider than ASG or policy: %+v", d.Min, d.Max, in)
			}
			if lock.Active(now) {
				t.Fatalf("scaled a locked fleet")
			}
			if !last.IsZero() && now.Sub(last) < p.Cooldown() {
				t.Fatalf("scaled within cooldown")
			}
			if ch.State == "OK" && p.OnOK == nil {
				t.Fatalf("OK scaled without on_ok")
			}
			if ch.State == "INSUFFICIENT_DATA" {
				t.Fatalf("INSUFFICIENT_DATA scaled")
			}
			step := d.To - d.From
			if step == 0 || (p.MaxStep > 0 && (step > p.MaxStep || -step > p.MaxStep) && d.From >= d.Min && d.From <= d.Max) {
				t.Fatalf("bad step %d (max_step %d): %+v", step, p.MaxStep, d)
			}
			if a := p.ActionFor(ch.State); (a.Direction == Up) != (step > 0) {
				t.Fatalf("moved against direction %s: %+v", a.Direction, d)
			}
		}
	}
}

func TestBreach(t *testing.T) {
	tests := []struct {
		op, override string
		thr          float64
		pts          []float64
		want         float64
		known        bool
	}{
		{"GreaterThanThreshold", "", 70, []float64{75, 93, 80}, 23, true},
		{"GreaterThanOrEqualToThreshold", "", 70, []float64{70}, 0, true},
		{"LessThanThreshold", "", 10, []float64{8, 3}, 7, true},
		{"", "LessThanOrEqualToThreshold", 10, []float64{8, 3}, 7, true},
		{"", "", 10, []float64{12}, 2, true},
		{"LessThanLowerOrGreaterThanUpperThreshold", "", 10, []float64{12}, 2, true},
		{"GreaterThanThreshold", "", 10, nil, 0, false},
	}
	for _, tt := range tests {
		c := &alarm.StateChange{ComparisonOperator: tt.op, ReasonData: alarm.ReasonData{RecentDatapoints: tt.pts, Threshold: tt.thr, HasThreshold: true}}
		got, known := Breach(c, tt.override)
		if got != tt.want || known != tt.known {
			t.Errorf("Breach(%s/%s, %v) = %v, %v; want %v, %v", tt.op, tt.override, tt.pts, got, known, tt.want, tt.known)
		}
	}
}

// BenchmarkDecide measures decisions per second and allocations for the
// common "scale" path.
func BenchmarkDecide(b *testing.B) {
	in := Input{Change: change("ALARM", 70, 72, 93.4, 88.1), Policy: basePolicy(), Capacity: asg(4, 1, 20),
		LastScaledAt: now.Add(-time.Hour), Now: now}
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		if d := Decide(in); d.Outcome != Scale {
			b.Fatalf("unexpected %s", d.Outcome)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
}

// BenchmarkDecideNoChange covers the cheap "no action for OK" path.
func BenchmarkDecideNoChange(b *testing.B) {
	p := basePolicy()
	p.OnOK = nil
	in := Input{Change: change("OK", 70, 10), Policy: p, Capacity: asg(4, 1, 20), Now: now}
	b.ReportAllocs()
	for n := 0; n < b.N; n++ {
		_ = Decide(in)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
}
