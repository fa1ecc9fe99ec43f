// Package policy holds the scaling policy model and Decide, the pure
// function that turns an alarm state change plus the current facts (policy,
// lock, capacity, last scaling time, clock) into a scaling decision.
//
// Decide performs no I/O and reads no clock: the same Input always gives the
// same Decision. Enforcing the decision safely (idempotency, cooldown races)
// is the job of package scaler through the registry's conditional writes.
package policy

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Direction of a scaling action.
type Direction string

// Directions.
const (
	Up   Direction = "up"
	Down Direction = "down"
)

// Step is one step adjustment: when the breach size b satisfies
// LowerBound <= b < UpperBound (a nil bound is unbounded), capacity moves by
// Adjustment instances in the action's direction. Steps are tried in order;
// the first match wins.
type Step struct {
	LowerBound *float64
	UpperBound *float64
	// Adjustment is a number of instances, >= 0; the direction gives the sign.
	Adjustment int
}

// Action is what to do when the alarm enters a state.
type Action struct {
	Direction Direction
	Steps     []Step
}

// Policy is a scaling policy after merging the alarm's registry item over the
// defaults item. Its registry representation is documented in package
// registry.
type Policy struct {
	AlarmName string
	Fleet     string
	Region    string
	ASGName   string
	// OnAlarm runs when the alarm enters ALARM; OnOK when it enters OK. A nil
	// action means "do nothing" for that state. INSUFFICIENT_DATA never scales.
	OnAlarm *Action
	OnOK    *Action
	// MinCapacity / MaxCapacity narrow the ASG's own bounds; nil = ASG bound.
	MinCapacity *int
	MaxCapacity *int
	// CooldownSeconds is the minimum time between two scaling actions on the
	// ASG (shared by all alarms that target it).
	CooldownSeconds int
	// MaxStep caps the absolute change of one action; 0 = no cap.
	MaxStep int
	// ComparisonOperator overrides the operator found in the event
	// (GreaterThan... / LessThan...); empty = use the event's.
	ComparisonOperator string
}

// Cooldown as a duration.
func (p *Policy) Cooldown() time.Duration { return time.Duration(p.CooldownSeconds) * time.Second }

// ActionFor returns the action for an alarm state, or nil.
func (p *Policy) ActionFor(state string) *Action {
	switch state {
	case "ALARM":
		return p.OnAlarm
	case "OK":
		return p.OnOK
	}
	return nil
}

// Validate reports every problem of the policy in one error.
func (p *Policy) Validate() error {
	var probs []string
	if p.Fleet == "" {
		probs = append(probs, "fleet is required")
	}
	if p.Region == "" {
		probs = append(probs, "region is required")
	}
	if p.ASGName == "" {
		probs = append(probs, "asg_name is required")
	}
	if p.OnAlarm == nil && p.OnOK == nil {
		probs = append(probs, "on_alarm or on_ok is required")
	}
	probs = p.OnAlarm.problems("on_alarm", probs)
	probs = p.OnOK.problems("on_ok", probs)
	if p.MinCapacity != nil && *p.MinCapacity < 0 {
		probs = append(probs, "min_capacity must be >= 0")
	}
	if p.MaxCapacity != nil && *p.MaxCapacity < 0 {
		probs = append(probs, "max_capacity must be >= 0")
	}
	if p.MinCapacity != nil && p.MaxCapacity != nil && *p.MinCapacity > *p.MaxCapacity {
		probs = append(probs, fmt.Sprintf("min_capacity %d > max_capacity %d", *p.MinCapacity, *p.MaxCapacity))
	}
	if p.CooldownSeconds < 0 {
		probs = append(probs, "cooldown_seconds must be >= 0")
	}
	if p.MaxStep < 0 {
		probs = append(probs, "max_step must be >= 0")
	}
	if p.ComparisonOperator != "" && !strings.HasPrefix(p.ComparisonOperator, "GreaterThan") &&
		!strings.HasPrefix(p.ComparisonOperator, "LessThan") {
		probs = append(probs, fmt.Sprintf("comparison_operator %q is not a CloudWatch operator", p.ComparisonOperator))
	}
	if len(probs) == 0 {
		return nil
	}
	return errors.New(strings.Join(probs, "; "))
}

func (a *Action) problems(name string, probs []string) []string {
	if a == nil {
		return probs
	}
	if a.Direction != Up && a.Direction != Down {
		probs = append(probs, fmt.Sprintf("%s.direction must be %q or %q", name, Up, Down))
	}
	if len(a.Steps) == 0 {
		probs = append(probs, name+".step_adjustments must not be empty")
	}
	for i, s := range a.Steps {
		if s.Adjustment < 0 {
			probs = append(probs, fmt.Sprintf("%s.step_adjustments[%d].adjustment must be >= 0 (direction gives the sign)", name, i))
		}
		if s.LowerBound != nil && s.UpperBound != nil && !(*s.LowerBound < *s.UpperBound) {
			probs = append(probs, fmt.Sprintf("%s.step_adjustments[%d]: lower_bound must be < upper_bound", name, i))
		}
		if (s.LowerBound != nil && !finite(*s.LowerBound)) || (s.UpperBound != nil && !finite(*s.UpperBound)) {
			probs = append(probs, fmt.Sprintf("%s.step_adjustments[%d]: bounds must be finite", name, i))
		}
	}
	return probs
}

// Lock is the fleet's lock record (held by a deployment or maintenance
// workflow). A lock whose ExpiresAt is past is free; a lock record without an
// expiry is treated as held.
type Lock struct {
	Exists    bool
	Owner     string
	Kind      string
	ExpiresAt time.Time // zero = no expiry recorded
}

// Active reports whether the lock blocks scaling at now.
func (l Lock) Active(now time.Time) bool {
	if !l.Exists {
		return false
	}
	return l.ExpiresAt.IsZero() || now.Before(l.ExpiresAt)
}

// Capacity is the ASG's own sizing as reported by Auto Scaling.
type Capacity struct {
	Known   bool
	Desired int
	Min     int
	Max     int
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
