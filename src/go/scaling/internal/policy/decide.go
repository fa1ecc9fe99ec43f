package policy

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/fleetops/scaling/internal/alarm"
)

// Outcome of handling one alarm state change.
type Outcome string

// Outcomes. Decide returns Scale, NoPolicy, Locked, NoChange, Cooldown or
// Failed; the scaler turns Scale into Applied, DryRun, Cooldown (lost a race)
// or Failed, and reports Duplicate for a redelivered state change.
const (
	Scale     Outcome = "scale"
	Applied   Outcome = "applied"
	DryRun    Outcome = "dry_run"
	Duplicate Outcome = "duplicate"
	Cooldown  Outcome = "cooldown"
	Locked    Outcome = "locked"
	NoPolicy  Outcome = "no_policy"
	NoChange  Outcome = "no_change"
	Failed    Outcome = "failed"
)

// Input is everything Decide looks at.
type Input struct {
	Change *alarm.StateChange
	// Policy is nil when the alarm has no policy item.
	Policy *Policy
	Lock   Lock
	// Capacity is the ASG's current sizing; needed only when an action applies.
	Capacity Capacity
	// LastScaledAt is the ASG's last_scaled_at; zero = never scaled.
	LastScaledAt time.Time
	Now          time.Time
}

// Decision is Decide's result.
type Decision struct {
	Outcome Outcome
	Reason  string
	// From and To are the current and target desired capacity
	// (valid when HasCapacity).
	HasCapacity bool
	From, To    int
	// Min and Max are the effective bounds: the ASG's own bounds narrowed by
	// the policy's min_capacity / max_capacity.
	Min, Max int
	// Adjustment is the signed change the matching step asked for, after
	// max_step and before clamping to [Min, Max].
	Adjustment int
	// Breach is the breach size used to pick the step (0 when unknown).
	Breach      float64
	BreachKnown bool
	// CooldownUntil is when the ASG's cooldown ends (set for Cooldown).
	CooldownUntil time.Time
}

// Decide computes the scaling decision. Rules, in order:
//   - no policy: NoPolicy (reported, never guessed);
//   - invalid policy: Failed;
//   - fleet locked by a live lock: Locked;
//   - no action for the new state (OK without on_ok, INSUFFICIENT_DATA): NoChange;
//   - no step matches the breach size: NoChange;
//   - the target, clamped to [Min, Max] and never moved against the action's
//     direction, equals the current desired capacity: NoChange;
//   - the ASG was scaled less than cooldown_seconds ago: Cooldown;
//   - otherwise Scale from From to To, with Min <= To <= Max.
func Decide(in Input) Decision {
	c, p := in.Change, in.Policy
	if p == nil {
		return Decision{Outcome: NoPolicy, Reason: "no scaling policy for alarm " + strconv.Quote(c.AlarmName)}
	}
	if err := p.Validate(); err != nil {
		return Decision{Outcome: Failed, Reason: "invalid policy: " + err.Error()}
	}
	if in.Lock.Active(in.Now) {
		return Decision{Outcome: Locked, Reason: lockReason(p.Fleet, in.Lock)}
	}
	action := p.ActionFor(c.State)
	if action == nil {
		return Decision{Outcome: NoChange, Reason: "policy has no action for state " + c.State}
	}

	d := Decision{}
	d.Breach, d.BreachKnown = Breach(c, p.ComparisonOperator)
	// For ALARM the steps match how far the metric is past the threshold;
	// for OK, how far it is back on the healthy side (both positive).
	size := d.Breach
	if c.State == alarm.StateOK {
		size = -size
	}
	step := matchStep(action.Steps, size)
	if step == nil {
		d.Outcome = NoChange
		d.Reason = "no step adjustment matches breach size " + fmtBreach(size, d.BreachKnown)
		return d
	}
	if !in.Capacity.Known {
		d.Outcome = Failed
		d.Reason = "current capacity of the ASG is unknown"
		return d
	}

	d.HasCapacity = true
	d.From = in.Capacity.Desired
	d.Min, d.Max = in.Capacity.Min, in.Capacity.Max
	if p.MinCapacity != nil && *p.MinCapacity > d.Min {
		d.Min = *p.MinCapacity
	}
	if p.MaxCapacity != nil && *p.MaxCapacity < d.Max {
		d.Max = *p.MaxCapacity
	}
	if d.Min > d.Max {
		d.Outcome, d.To = Failed, d.From
		d.Reason = fmt.Sprintf("policy bounds [%s, %s] do not intersect the ASG bounds [%d, %d]",
			optInt(p.MinCapacity), optInt(p.MaxCapacity), in.Capacity.Min, in.Capacity.Max)
		return d
	}

	adj := step.Adjustment
	capped := p.MaxStep > 0 && adj > p.MaxStep
	if capped {
		adj = p.MaxStep
	}
	if action.Direction == Down {
		adj = -adj
	}
	d.Adjustment = adj
	target := clamp(d.From+adj, d.Min, d.Max)
	// Never move against the action's direction (e.g. a scale-down action
	// while the ASG is below the policy minimum).
	if action.Direction == Up && target < d.From {
		target = d.From
	}
	if action.Direction == Down && target > d.From {
		target = d.From
	}
	d.To = target

	if target == d.From {
		d.Outcome = NoChange
		switch {
		case adj == 0:
			d.Reason = "matching step adjustment is 0"
		case action.Direction == Up:
			d.Reason = fmt.Sprintf("already at or above the maximum (%d >= %d)", d.From, d.Max)
		default:
			d.Reason = fmt.Sprintf("already at or below the minimum (%d <= %d)", d.From, d.Min)
		}
		return d
	}

	if cd := p.Cooldown(); cd > 0 && !in.LastScaledAt.IsZero() {
		until := in.LastScaledAt.Add(cd)
		if in.Now.Before(until) {
			d.Outcome = Cooldown
			d.CooldownUntil = until
			d.Reason = fmt.Sprintf("ASG scaled at %s, cooldown %ds until %s",
				in.LastScaledAt.UTC().Format(time.RFC3339), p.CooldownSeconds, until.UTC().Format(time.RFC3339))
			return d
		}
	}

	d.Outcome = Scale
	var b strings.Builder
	b.Grow(96)
	b.WriteString(c.State)
	b.WriteString(": breach ")
	b.WriteString(fmtBreach(size, d.BreachKnown))
	b.WriteString(", step ")
	b.WriteString(fmtSigned(adj))
	if capped {
		b.WriteString(" (capped by max_step)")
	}
	b.WriteString(", desired ")
	b.WriteString(strconv.Itoa(d.From))
	b.WriteString(" -> ")
	b.WriteString(strconv.Itoa(d.To))
	b.WriteString(" within [")
	b.WriteString(strconv.Itoa(d.Min))
	b.WriteString(", ")
	b.WriteString(strconv.Itoa(d.Max))
	b.WriteString("]")
	d.Reason = b.String()
	return d
}

// Breach returns the breach size of the state change: max(datapoints) -
// threshold for GreaterThan operators, threshold - min(datapoints) for
// LessThan operators. operator overrides the event's operator when set.
// known is false when the event has no datapoints or no threshold.
func Breach(c *alarm.StateChange, operator string) (size float64, known bool) {
	if operator == "" {
		operator = c.ComparisonOperator
	}
	rd := &c.ReasonData
	if !rd.HasThreshold || len(rd.RecentDatapoints) == 0 {
		return 0, false
	}
	if strings.HasPrefix(operator, "LessThan") && !strings.Contains(operator, "OrGreaterThan") {
		lo := rd.RecentDatapoints[0]
		for _, v := range rd.RecentDatapoints[1:] {
			if v < lo {
				lo = v
			}
		}
		return rd.Threshold - lo, true
	}
	hi := rd.RecentDatapoints[0]
	for _, v := range rd.RecentDatapoints[1:] {
		if v > hi {
			hi = v
		}
	}
	return hi - rd.Threshold, true
}

func matchStep(steps []Step, size float64) *Step {
	for i := range steps {
		s := &steps[i]
		if s.LowerBound != nil && size < *s.LowerBound {
			continue
		}
		if s.UpperBound != nil && size >= *s.UpperBound {
			continue
		}
		return s
	}
	return nil
}

func clamp(v, lo, hi int) int {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

func lockReason(fleet string, l Lock) string {
	r := "fleet " + strconv.Quote(fleet) + " is locked"
	if l.Kind != "" {
		r += " for " + l.Kind
	}
	if l.Owner != "" {
		r += " by " + l.Owner
	}
	if l.ExpiresAt.IsZero() {
		return r + " (no expiry)"
	}
	return r + " until " + l.ExpiresAt.UTC().Format(time.RFC3339)
}

func fmtBreach(v float64, known bool) string {
	if !known {
		return "unknown (no datapoints/threshold in the event; matched as 0)"
	}
	return strconv.FormatFloat(v, 'g', 6, 64)
}

func fmtSigned(v int) string {
	if v >= 0 {
		return "+" + strconv.Itoa(v)
	}
	return strconv.Itoa(v)
}

func optInt(p *int) string {
	if p == nil {
		return "-"
	}
	return strconv.Itoa(*p)
}
