// Package scaler handles one alarm state change end to end: decode, gather
// facts, decide (package policy), claim, act, record, report.
//
// # Safety and idempotency
//
//  1. Reads: policy (with defaults), fleet lock, the ASG's last_scaled_at and
//     its current capacity (DescribeAutoScalingGroups in the policy's region).
//     Nothing is written before the decision is made.
//  2. Claim the state change: a conditional put of the decision record keyed by
//     alarm and state-change time. A redelivered event fails the condition and
//     is reported as "duplicate" with no further effect. Decisions that need no
//     action (no_policy, locked, no_change, cooldown, failed) are recorded final
//     here; a scaling decision is recorded "pending".
//  3. DRY_RUN: the record becomes "dry_run"; nothing else is written.
//  4. Claim the ASG's cooldown: a conditional update of last_scaled_at
//     (absent, or older than the cooldown). Losing this race to another alarm
//     makes the outcome "cooldown".
//  5. SetDesiredCapacity (HonorCooldown false: the registry holds the
//     cooldown), retried on throttling by the SDK's standard retryer.
//  6. Success: the record becomes "applied". Failure: the cooldown claim is
//     released (previous last_scaled_at restored), the record becomes "failed"
//     (which a later delivery may claim again) and the handler returns the error
//     so that Lambda's asynchronous retry runs the whole sequence again.
//
// Transient errors (any AWS error) are returned to Lambda; permanent ones
// (invalid policy, ASG not found) are recorded and reported as "failed" but
// not returned, since a retry cannot fix them.
package scaler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/fleetops/scaling/internal/alarm"
	"github.com/fleetops/scaling/internal/emf"
	"github.com/fleetops/scaling/internal/policy"
	"github.com/fleetops/scaling/internal/registry"
)

// Store is the registry access the handler needs (*registry.Registry).
type Store interface {
	GetPolicy(ctx context.Context, alarmName string) (*policy.Policy, error)
	GetLock(ctx context.Context, fleet string) (policy.Lock, error)
	GetLastScaled(ctx context.Context, k registry.ASGKey) (time.Time, error)
	ClaimDecision(ctx context.Context, d registry.Decision, staleBefore time.Time) error
	FinishDecision(ctx context.Context, alarmName, timeKey, outcome, reason, errMsg string, at time.Time) error
	ClaimCooldown(ctx context.Context, k registry.ASGKey, now time.Time, cooldown time.Duration, by string) (registry.CooldownClaim, error)
	ReleaseCooldown(ctx context.Context, c registry.CooldownClaim) error
}

// AutoScalingAPI is the part of the Auto Scaling client the handler uses.
type AutoScalingAPI interface {
	DescribeAutoScalingGroups(ctx context.Context, in *autoscaling.DescribeAutoScalingGroupsInput, opts ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingGroupsOutput, error)
	SetDesiredCapacity(ctx context.Context, in *autoscaling.SetDesiredCapacityInput, opts ...func(*autoscaling.Options)) (*autoscaling.SetDesiredCapacityOutput, error)
}

// SNSAPI is the part of the SNS client the handler uses.
type SNSAPI interface {
	Publish(ctx context.Context, in *sns.PublishInput, opts ...func(*sns.Options)) (*sns.PublishOutput, error)
}

// Deps are the handler's collaborators.
type Deps struct {
	Store Store
	// AutoScaling returns the client for an ASG's region.
	AutoScaling func(region string) AutoScalingAPI
	SNS         SNSAPI
	Metrics     *emf.Writer
	Logger      *slog.Logger
	Now         func() time.Time
}

// Options are the handler's settings.
type Options struct {
	Environment string
	TopicARN    string
	DryRun      bool
	// DecisionTTL sets the decision record's expires_at.
	DecisionTTL time.Duration
	// StaleClaimAfter: a "pending" record older than this (a crashed
	// invocation) may be claimed again. Default 15 minutes, Lambda's maximum
	// run time.
	StaleClaimAfter time.Duration
}

// Handler handles alarm state changes.
type Handler struct {
	d    Deps
	opts Options
}

// New returns a Handler.
func New(d Deps, o Options) *Handler {
	if o.StaleClaimAfter <= 0 {
		o.StaleClaimAfter = 15 * time.Minute
	}
	if o.DecisionTTL <= 0 {
		o.DecisionTTL = 30 * 24 * time.Hour
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	return &Handler{d: d, opts: o}
}

// Result is the handler's JSON result; the SNS notification carries the same
// fields plus the environment.
type Result struct {
	Outcome        policy.Outcome `json:"outcome"`
	Alarm          string         `json:"alarm"`
	State          string         `json:"state"`
	PreviousState  string         `json:"previous_state,omitempty"`
	StateChangedAt string         `json:"state_changed_at"`
	Source         alarm.Source   `json:"source"`
	Fleet          string         `json:"fleet,omitempty"`
	ASG            string         `json:"asg,omitempty"`
	Region         string         `json:"region,omitempty"`
	FromCapacity   *int           `json:"from_capacity,omitempty"`
	ToCapacity     *int           `json:"to_capacity,omitempty"`
	Breach         *float64       `json:"breach,omitempty"`
	Reason         string         `json:"reason"`
	DryRun         bool           `json:"dry_run"`
	Error          string         `json:"error,omitempty"`
}

// Notification is the SNS message body.
type Notification struct {
	Environment string `json:"environment"`
	*Result
}

var errASGNotFound = errors.New("auto scaling group not found")

// Handle is the Lambda handler. An unsupported payload returns an error
// starting "unsupported event" and makes no AWS call.
func (h *Handler) Handle(ctx context.Context, payload json.RawMessage) (*Result, error) {
	log := h.d.Logger
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		log = log.With("request_id", lc.AwsRequestID)
	}
	change, err := alarm.Decode(payload)
	if err != nil {
		log.Error("event rejected", "error", err.Error(), "payload_bytes", len(payload))
		return nil, err
	}
	log = log.With("alarm", change.AlarmName, "state", change.State,
		"state_changed_at", change.TimeKey(), "source", string(change.Source))
	res, err := h.handle(ctx, log, &change)
	h.report(ctx, log, res)
	return res, err
}

func (h *Handler) handle(ctx context.Context, log *slog.Logger, c *alarm.StateChange) (*Result, error) {
	now := h.d.Now()
	res := &Result{
		Alarm: c.AlarmName, State: c.State, PreviousState: c.PreviousState,
		StateChangedAt: c.TimeKey(), Source: c.Source, DryRun: h.opts.DryRun,
	}

	dec, pol, err := h.decide(ctx, c, now, res)
	if err != nil {
		// Nothing was claimed: Lambda's retry starts from scratch.
		return failed(res, "could not gather the facts for a decision", err)
	}
	res.Reason = dec.Reason
	if dec.HasCapacity {
		from, to := dec.From, dec.To
		res.FromCapacity, res.ToCapacity = &from, &to
	}
	if dec.BreachKnown {
		b := math.Round(dec.Breach*1e6) / 1e6 // presentation only
		res.Breach = &b
	}
	log.Debug("decided", "outcome", string(dec.Outcome), "reason", dec.Reason)

	rec := registry.Decision{
		AlarmName: c.AlarmName, TimeKey: c.TimeKey(), AlarmARN: c.AlarmARN, State: c.State,
		PreviousState: c.PreviousState, Source: string(c.Source),
		Fleet: res.Fleet, Region: res.Region, ASGName: res.ASG,
		HasCapacity: dec.HasCapacity, From: dec.From, To: dec.To, Adjustment: dec.Adjustment,
		Breach: dec.Breach, BreachKnown: dec.BreachKnown,
		Outcome: string(dec.Outcome), Reason: dec.Reason, DryRun: h.opts.DryRun,
		DecidedAt: now, ExpiresAt: now.Add(h.opts.DecisionTTL),
	}
	if dec.Outcome == policy.Scale {
		rec.Outcome = registry.OutcomePending
	}
	switch err := h.d.Store.ClaimDecision(ctx, rec, now.Add(-h.opts.StaleClaimAfter)); {
	case errors.Is(err, registry.ErrDuplicate):
		res.Outcome = policy.Duplicate
		res.Reason = "state change already handled (redelivered event); nothing done"
		// What this delivery would decide now is not what was done: omit it.
		res.FromCapacity, res.ToCapacity, res.Breach = nil, nil, nil
		return res, nil
	case err != nil:
		return failed(res, "could not record the decision", err)
	}
	if dec.Outcome != policy.Scale {
		res.Outcome = dec.Outcome
		return res, nil
	}

	if h.opts.DryRun {
		res.Outcome = policy.DryRun
		res.Reason = "DRY_RUN: would set desired capacity; " + dec.Reason
		h.finish(ctx, log, res, "", now)
		return res, nil
	}

	key := registry.ASGKey{Fleet: pol.Fleet, Region: pol.Region, Name: pol.ASGName}
	claim, err := h.d.Store.ClaimCooldown(ctx, key, now, pol.Cooldown(), c.AlarmName+"@"+c.TimeKey())
	switch {
	case errors.Is(err, registry.ErrCooldownActive):
		res.Outcome = policy.Cooldown
		res.Reason = "another scaling of the ASG claimed the cooldown first; " + dec.Reason
		h.finish(ctx, log, res, "", now)
		return res, nil
	case err != nil:
		res, err = failed(res, "could not claim the ASG cooldown", err)
		h.finish(ctx, log, res, res.Error, now)
		return res, err
	}

	_, err = h.d.AutoScaling(pol.Region).SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{
		AutoScalingGroupName: aws.String(pol.ASGName),
		DesiredCapacity:      aws.Int32(int32(dec.To)),
		HonorCooldown:        aws.Bool(false),
	})
	if err != nil {
		res, err = failed(res, "SetDesiredCapacity failed", err)
		if rerr := h.d.Store.ReleaseCooldown(ctx, claim); rerr != nil {
			log.Error("could not release the cooldown claim", "error", rerr.Error())
			err = errors.Join(err, rerr)
		}
		h.finish(ctx, log, res, res.Error, now)
		return res, err
	}
	res.Outcome = policy.Applied
	h.finish(ctx, log, res, "", now)
	return res, nil
}

// decide gathers the facts and runs policy.Decide. A returned error is
// transient (an AWS call failed); permanent problems become a Failed decision.
func (h *Handler) decide(ctx context.Context, c *alarm.StateChange, now time.Time, res *Result) (policy.Decision, *policy.Policy, error) {
	pol, err := h.d.Store.GetPolicy(ctx, c.AlarmName)
	if errors.Is(err, registry.ErrInvalidPolicy) {
		return policy.Decision{Outcome: policy.Failed, Reason: err.Error()}, nil, nil
	}
	if err != nil {
		return policy.Decision{}, nil, err
	}
	in := policy.Input{Change: c, Policy: pol, Now: now}
	if pol == nil || pol.Validate() != nil {
		return policy.Decide(in), pol, nil
	}
	res.Fleet, res.ASG, res.Region = pol.Fleet, pol.ASGName, pol.Region

	if in.Lock, err = h.d.Store.GetLock(ctx, pol.Fleet); err != nil {
		return policy.Decision{}, nil, err
	}
	if in.Lock.Active(now) || pol.ActionFor(c.State) == nil {
		return policy.Decide(in), pol, nil
	}
	key := registry.ASGKey{Fleet: pol.Fleet, Region: pol.Region, Name: pol.ASGName}
	if in.LastScaledAt, err = h.d.Store.GetLastScaled(ctx, key); err != nil {
		return policy.Decision{}, nil, err
	}
	in.Capacity, err = h.capacity(ctx, pol.Region, pol.ASGName)
	if errors.Is(err, errASGNotFound) {
		return policy.Decision{Outcome: policy.Failed, Reason: err.Error()}, pol, nil
	}
	if err != nil {
		return policy.Decision{}, nil, err
	}
	return policy.Decide(in), pol, nil
}

func (h *Handler) capacity(ctx context.Context, region, name string) (policy.Capacity, error) {
	out, err := h.d.AutoScaling(region).DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{
		AutoScalingGroupNames: []string{name},
	})
	if err != nil {
		return policy.Capacity{}, fmt.Errorf("describe auto scaling group %q in %s: %w", name, region, err)
	}
	for _, g := range out.AutoScalingGroups {
		if aws.ToString(g.AutoScalingGroupName) == name {
			return policy.Capacity{
				Known:   true,
				Desired: int(aws.ToInt32(g.DesiredCapacity)),
				Min:     int(aws.ToInt32(g.MinSize)),
				Max:     int(aws.ToInt32(g.MaxSize)),
			}, nil
		}
	}
	return policy.Capacity{}, fmt.Errorf("%w: %q in %s", errASGNotFound, name, region)
}

func failed(res *Result, what string, err error) (*Result, error) {
	res.Outcome = policy.Failed
	res.Reason = what
	res.Error = err.Error()
	return res, fmt.Errorf("alarm %q at %s: %s: %w", res.Alarm, res.StateChangedAt, what, err)
}

// finish records the final outcome of a claimed (pending) decision. A failure
// here is logged, not returned: the fleet action (or its absence) is already
// settled, and a retry would only find the pending claim.
func (h *Handler) finish(ctx context.Context, log *slog.Logger, res *Result, errMsg string, now time.Time) {
	if err := h.d.Store.FinishDecision(ctx, res.Alarm, res.StateChangedAt, string(res.Outcome), res.Reason, errMsg, now); err != nil {
		log.Error("could not record the decision outcome", "outcome", string(res.Outcome), "error", err.Error())
	}
}

// report logs the result, emits the EMF metric and notifies SNS (not for
// duplicates: the first delivery already did).
func (h *Handler) report(ctx context.Context, log *slog.Logger, res *Result) {
	attrs := []any{"outcome", string(res.Outcome), "reason", res.Reason, "dry_run", res.DryRun}
	if res.Fleet != "" {
		attrs = append(attrs, "fleet", res.Fleet, "asg", res.ASG, "region", res.Region)
	}
	if res.FromCapacity != nil {
		attrs = append(attrs, "from_capacity", *res.FromCapacity, "to_capacity", *res.ToCapacity)
	}
	if res.Error != "" {
		attrs = append(attrs, "error", res.Error)
	}
	level := slog.LevelInfo
	switch res.Outcome {
	case policy.Failed:
		level = slog.LevelError
	case policy.NoPolicy, policy.Locked:
		level = slog.LevelWarn
	}
	log.Log(ctx, level, "scaling decision", attrs...)

	if h.d.Metrics != nil {
		props := map[string]any{"alarm": res.Alarm, "environment": h.opts.Environment}
		if res.Fleet != "" {
			props["fleet"], props["asg"] = res.Fleet, res.ASG
		}
		if err := h.d.Metrics.Put("Decisions", emf.Count, 1, []emf.Dimension{{Name: "Outcome", Value: string(res.Outcome)}}, props); err != nil {
			log.Error("could not emit metric", "error", err.Error())
		}
	}

	if res.Outcome == policy.Duplicate || h.d.SNS == nil || h.opts.TopicARN == "" {
		return
	}
	body, err := json.Marshal(Notification{Environment: h.opts.Environment, Result: res})
	if err != nil {
		log.Error("could not encode notification", "error", err.Error())
		return
	}
	_, err = h.d.SNS.Publish(ctx, &sns.PublishInput{
		TopicArn: aws.String(h.opts.TopicARN),
		Subject:  aws.String(subject(h.opts.Environment, res)),
		Message:  aws.String(string(body)),
	})
	if err != nil {
		// The decision stands; a missing notification must not trigger a retry.
		log.Error("could not publish notification", "error", err.Error())
	}
}

// subject builds an SNS subject: ASCII, no control characters, <= 100 chars.
func subject(env string, res *Result) string {
	s := fmt.Sprintf("[%s] scaling %s: %s", env, res.Outcome, res.Alarm)
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= 100 {
			break
		}
		if r < 0x20 || r > 0x7e {
			r = '?'
		}
		b.WriteRune(r)
	}
	return b.String()
}
