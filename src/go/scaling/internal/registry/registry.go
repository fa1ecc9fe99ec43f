// Package registry reads and writes the scaling function's items in the fleet
// registry (one DynamoDB table, pk/sk, see docs/CONVENTIONS.md).
//
// Items read:
//
//	scaling policy   pk "ALARM#<alarm-name>"  sk "POLICY"   (operators)
//	policy defaults  pk "ALARM#*"             sk "POLICY"   (operators)
//	fleet lock       pk "FLEET#<fleet>"       sk "LOCK"     (deployment / maintenance workflows)
//	ASG              pk "FLEET#<fleet>"       sk "ASG#<region>#<asg>"
//
// Items written:
//
//	scaling decision pk "ALARM#<alarm-name>"  sk "DECISION#<state-change-time>"
//	ASG              only last_scaled_at and last_scaled_by (the rest is fleet-sync's)
//
// # Scaling policy item
//
// The alarm's item is merged attribute by attribute over the defaults item
// (the alarm's attribute wins; a NULL attribute in the alarm's item clears the
// default). Without an item for the alarm there is no policy: the defaults
// alone never make one. Attributes (after merging):
//
//	entity               S  "scaling_policy"
//	fleet                S  fleet name (required); the lock and ASG record live under FLEET#<fleet>
//	region               S  region of the ASG (required)
//	asg_name             S  Auto Scaling group name (required)
//	on_alarm             M  action when the alarm enters ALARM (optional, NULL = none)
//	on_ok                M  action when the alarm enters OK (optional, NULL = none);
//	                        INSUFFICIENT_DATA never scales
//	min_capacity         N  lower bound, narrows the ASG's MinSize (optional)
//	max_capacity         N  upper bound, narrows the ASG's MaxSize (optional)
//	cooldown_seconds     N  minimum time between two scalings of the ASG, shared by every alarm (default 0)
//	max_step             N  cap on the instances added/removed by one decision (default 0 = no cap)
//	comparison_operator  S  alarm operator, overrides the one read from the event (optional;
//	                        GreaterThan...: breach = max(datapoints) - threshold,
//	                        LessThan...:    breach = threshold - min(datapoints))
//
// An action map has:
//
//	direction            S  "up" or "down"
//	step_adjustments     L  of M {lower_bound N (optional), upper_bound N (optional), adjustment N >= 0}
//
// The first step with lower_bound <= size < upper_bound applies (a missing
// bound is unbounded). For on_alarm, size is the breach size; for on_ok it is
// the distance back on the healthy side of the threshold (-breach). When the
// event carries no datapoints or threshold, size is 0.
//
// Example (JSON view of the item):
//
//	{"pk": "ALARM#web-cpu-high", "sk": "POLICY", "entity": "scaling_policy",
//	 "fleet": "web", "region": "eu-west-1", "asg_name": "web-asg",
//	 "on_alarm": {"direction": "up", "step_adjustments": [
//	     {"upper_bound": 10, "adjustment": 1},
//	     {"lower_bound": 10, "adjustment": 3}]},
//	 "on_ok": {"direction": "down", "step_adjustments": [{"lower_bound": 20, "adjustment": 1}]},
//	 "min_capacity": 2, "max_capacity": 20, "cooldown_seconds": 300, "max_step": 4}
//
// # Lock item
//
// owner S, kind S, acquired_at S, lock_expires_at N (epoch seconds). A lock
// whose lock_expires_at is past is free; one without lock_expires_at is held.
//
// # Decision item
//
//	entity S "scaling_decision", alarm_name, alarm_arn, state, previous_state,
//	state_changed_at (S, ISO), source, fleet, region, asg_name, from_capacity N,
//	to_capacity N, adjustment N, breach N, outcome S, reason S, error S,
//	dry_run BOOL, decided_at S, claimed_at N, updated_at S, expires_at N (TTL).
//
// The decision is put with a condition so that one state change is handled
// once: it succeeds only if no record exists, or the previous attempt ended
// "failed", or it is still "pending" but older than the stale-claim limit.
package registry

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/fleetops/scaling/internal/alarm"
	"github.com/fleetops/scaling/internal/policy"
)

// DynamoDBAPI is the part of the DynamoDB client the registry uses.
type DynamoDBAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

var (
	// ErrDuplicate: the state change already has a decision record.
	ErrDuplicate = errors.New("state change already handled")
	// ErrCooldownActive: another scaling of the ASG claimed the cooldown.
	ErrCooldownActive = errors.New("ASG cooldown already claimed")
	// ErrInvalidPolicy: the policy item cannot be read as a policy.
	ErrInvalidPolicy = errors.New("invalid policy item")
)

// Entity names and special outcome values.
const (
	EntityDecision = "scaling_decision"
	EntityASG      = "asg"
	// OutcomePending marks a claimed state change whose action is in progress.
	OutcomePending = "pending"
	defaultsAlarm  = "*"
)

// Registry accesses the fleet registry table.
type Registry struct {
	db    DynamoDBAPI
	table string
}

// New returns a Registry for table.
func New(db DynamoDBAPI, table string) *Registry { return &Registry{db: db, table: table} }

// ASGKey identifies an ASG record.
type ASGKey struct {
	Fleet  string
	Region string
	Name   string
}

func (k ASGKey) pk() string { return "FLEET#" + k.Fleet }
func (k ASGKey) sk() string { return "ASG#" + k.Region + "#" + k.Name }

func key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": s(pk), "sk": s(sk)}
}

// AlarmPK is the partition key of an alarm's policy and decisions.
func AlarmPK(alarmName string) string { return "ALARM#" + alarmName }

// DecisionSK is the sort key of a decision record.
func DecisionSK(timeKey string) string { return "DECISION#" + timeKey }

// GetPolicy returns the alarm's policy merged over the defaults, nil if the
// alarm has no policy item, or an error wrapping ErrInvalidPolicy.
func (r *Registry) GetPolicy(ctx context.Context, alarmName string) (*policy.Policy, error) {
	own, err := r.get(ctx, AlarmPK(alarmName), "POLICY", false)
	if err != nil {
		return nil, fmt.Errorf("get policy of alarm %q: %w", alarmName, err)
	}
	if own == nil {
		return nil, nil
	}
	defaults, err := r.get(ctx, AlarmPK(defaultsAlarm), "POLICY", false)
	if err != nil {
		return nil, fmt.Errorf("get default policy: %w", err)
	}
	merged := make(map[string]types.AttributeValue, len(own)+len(defaults))
	for k, v := range defaults {
		merged[k] = v
	}
	for k, v := range own {
		merged[k] = v
	}
	p, err := parsePolicy(alarmName, merged)
	if err != nil {
		return nil, fmt.Errorf("%w for alarm %q: %v", ErrInvalidPolicy, alarmName, err)
	}
	return p, nil
}

// GetLock returns the fleet's lock record (Exists false if none).
func (r *Registry) GetLock(ctx context.Context, fleet string) (policy.Lock, error) {
	it, err := r.get(ctx, "FLEET#"+fleet, "LOCK", true)
	if err != nil {
		return policy.Lock{}, fmt.Errorf("get lock of fleet %q: %w", fleet, err)
	}
	if it == nil {
		return policy.Lock{}, nil
	}
	l := policy.Lock{Exists: true, Owner: getS(it, "owner"), Kind: getS(it, "kind")}
	if v, ok := it["lock_expires_at"].(*types.AttributeValueMemberN); ok {
		sec, err := strconv.ParseFloat(v.Value, 64)
		if err != nil || math.IsNaN(sec) || math.IsInf(sec, 0) {
			// An unreadable expiry must not free the lock.
			return l, nil
		}
		l.ExpiresAt = time.Unix(int64(sec), 0).UTC()
	}
	return l, nil
}

// GetLastScaled returns the ASG's last_scaled_at (zero if never).
func (r *Registry) GetLastScaled(ctx context.Context, k ASGKey) (time.Time, error) {
	it, err := r.get(ctx, k.pk(), k.sk(), true)
	if err != nil {
		return time.Time{}, fmt.Errorf("get ASG record %s/%s: %w", k.pk(), k.sk(), err)
	}
	v, ok := it["last_scaled_at"].(*types.AttributeValueMemberN)
	if !ok {
		return time.Time{}, nil
	}
	sec, err := strconv.ParseInt(v.Value, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("ASG record %s/%s: last_scaled_at %q is not epoch seconds", k.pk(), k.sk(), v.Value)
	}
	return time.Unix(sec, 0).UTC(), nil
}

func (r *Registry) get(ctx context.Context, pk, sk string, consistent bool) (map[string]types.AttributeValue, error) {
	out, err := r.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(r.table),
		Key:            key(pk, sk),
		ConsistentRead: aws.Bool(consistent),
	})
	if err != nil {
		return nil, err
	}
	if len(out.Item) == 0 {
		return nil, nil
	}
	return out.Item, nil
}

// Decision is a decision record.
type Decision struct {
	AlarmName     string
	TimeKey       string // alarm.StateChange.TimeKey()
	AlarmARN      string
	State         string
	PreviousState string
	Source        string
	Fleet         string
	Region        string
	ASGName       string
	HasCapacity   bool
	From, To      int
	Adjustment    int
	Breach        float64
	BreachKnown   bool
	Outcome       string
	Reason        string
	DryRun        bool
	DecidedAt     time.Time
	ExpiresAt     time.Time
}

// ClaimDecision writes the decision record if the state change has not been
// handled yet. A record left "failed" can be claimed again (a retry), and so
// can a "pending" one claimed before staleBefore (a crashed invocation). Any
// other existing record makes it return ErrDuplicate.
func (r *Registry) ClaimDecision(ctx context.Context, d Decision, staleBefore time.Time) error {
	it := map[string]types.AttributeValue{
		"pk":               s(AlarmPK(d.AlarmName)),
		"sk":               s(DecisionSK(d.TimeKey)),
		"entity":           s(EntityDecision),
		"alarm_name":       s(d.AlarmName),
		"state":            s(d.State),
		"state_changed_at": s(d.TimeKey),
		"source":           s(d.Source),
		"outcome":          s(d.Outcome),
		"reason":           s(d.Reason),
		"dry_run":          &types.AttributeValueMemberBOOL{Value: d.DryRun},
		"decided_at":       s(d.DecidedAt.UTC().Format(alarm.KeyTimeLayout)),
		"updated_at":       s(d.DecidedAt.UTC().Format(alarm.KeyTimeLayout)),
		"claimed_at":       n(d.DecidedAt.Unix()),
		"expires_at":       n(d.ExpiresAt.Unix()),
	}
	putOpt(it, "alarm_arn", d.AlarmARN)
	putOpt(it, "previous_state", d.PreviousState)
	putOpt(it, "fleet", d.Fleet)
	putOpt(it, "region", d.Region)
	putOpt(it, "asg_name", d.ASGName)
	if d.HasCapacity {
		it["from_capacity"] = n(int64(d.From))
		it["to_capacity"] = n(int64(d.To))
		it["adjustment"] = n(int64(d.Adjustment))
	}
	if d.BreachKnown {
		it["breach"] = &types.AttributeValueMemberN{Value: strconv.FormatFloat(d.Breach, 'g', 12, 64)}
	}
	_, err := r.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           aws.String(r.table),
		Item:                it,
		ConditionExpression: aws.String("attribute_not_exists(#pk) OR #outcome = :failed OR (#outcome = :pending AND #claimed_at < :stale)"),
		ExpressionAttributeNames: map[string]string{
			"#pk": "pk", "#outcome": "outcome", "#claimed_at": "claimed_at",
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":failed":  s(string(policy.Failed)),
			":pending": s(OutcomePending),
			":stale":   n(staleBefore.Unix()),
		},
	})
	if isConditionFailed(err) {
		return ErrDuplicate
	}
	if err != nil {
		return fmt.Errorf("put decision %s/%s: %w", AlarmPK(d.AlarmName), DecisionSK(d.TimeKey), err)
	}
	return nil
}

// FinishDecision sets the final outcome of a claimed decision record.
func (r *Registry) FinishDecision(ctx context.Context, alarmName, timeKey, outcome, reason, errMsg string, at time.Time) error {
	names := map[string]string{"#pk": "pk", "#outcome": "outcome", "#reason": "reason", "#updated_at": "updated_at", "#error": "error"}
	values := map[string]types.AttributeValue{
		":outcome":    s(outcome),
		":reason":     s(reason),
		":updated_at": s(at.UTC().Format(alarm.KeyTimeLayout)),
	}
	expr := "SET #outcome = :outcome, #reason = :reason, #updated_at = :updated_at"
	if errMsg != "" {
		expr += ", #error = :error"
		values[":error"] = s(errMsg)
	} else {
		expr += " REMOVE #error"
	}
	_, err := r.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(r.table),
		Key:                       key(AlarmPK(alarmName), DecisionSK(timeKey)),
		UpdateExpression:          aws.String(expr),
		ConditionExpression:       aws.String("attribute_exists(#pk)"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
	if err != nil {
		return fmt.Errorf("update decision %s/%s to %s: %w", AlarmPK(alarmName), DecisionSK(timeKey), outcome, err)
	}
	return nil
}

// CooldownClaim is a successful claim of an ASG's cooldown, with what it
// replaced so that it can be released.
type CooldownClaim struct {
	Key     ASGKey
	At      int64
	By      string
	HadPrev bool
	PrevAt  string
	PrevBy  string
}

// ClaimCooldown sets the ASG's last_scaled_at to now if the cooldown since
// the previous scaling has passed; otherwise ErrCooldownActive. Two alarms
// racing for the same ASG thus respect one cooldown. If the ASG record does
// not exist yet it is created with entity "asg" and the scaling attributes only.
func (r *Registry) ClaimCooldown(ctx context.Context, k ASGKey, now time.Time, cooldown time.Duration, by string) (CooldownClaim, error) {
	at := now.Unix()
	cutoff := at - int64(cooldown/time.Second)
	out, err := r.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(r.table),
		Key:                 key(k.pk(), k.sk()),
		UpdateExpression:    aws.String("SET #lsa = :now, #lsb = :by, #entity = if_not_exists(#entity, :entity)"),
		ConditionExpression: aws.String("attribute_not_exists(#lsa) OR #lsa <= :cutoff"),
		ExpressionAttributeNames: map[string]string{
			"#lsa": "last_scaled_at", "#lsb": "last_scaled_by", "#entity": "entity",
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":now": n(at), ":by": s(by), ":entity": s(EntityASG), ":cutoff": n(cutoff),
		},
		ReturnValues: types.ReturnValueUpdatedOld,
	})
	if isConditionFailed(err) {
		return CooldownClaim{}, ErrCooldownActive
	}
	if err != nil {
		return CooldownClaim{}, fmt.Errorf("claim cooldown on %s/%s: %w", k.pk(), k.sk(), err)
	}
	c := CooldownClaim{Key: k, At: at, By: by}
	if v, ok := out.Attributes["last_scaled_at"].(*types.AttributeValueMemberN); ok {
		c.HadPrev, c.PrevAt = true, v.Value
		c.PrevBy = getS(out.Attributes, "last_scaled_by")
	}
	return c, nil
}

// ReleaseCooldown undoes a claim whose scaling did not happen, restoring
// the previous last_scaled_at. If someone else has claimed since, it leaves
// their claim alone.
func (r *Registry) ReleaseCooldown(ctx context.Context, c CooldownClaim) error {
	names := map[string]string{"#lsa": "last_scaled_at", "#lsb": "last_scaled_by"}
	values := map[string]types.AttributeValue{":mine": n(c.At), ":by": s(c.By)}
	var expr string
	switch {
	case c.HadPrev && c.PrevBy != "":
		expr = "SET #lsa = :prev, #lsb = :prevBy"
		values[":prev"] = &types.AttributeValueMemberN{Value: c.PrevAt}
		values[":prevBy"] = s(c.PrevBy)
	case c.HadPrev:
		expr = "SET #lsa = :prev REMOVE #lsb"
		values[":prev"] = &types.AttributeValueMemberN{Value: c.PrevAt}
	default:
		expr = "REMOVE #lsa, #lsb"
	}
	_, err := r.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(r.table),
		Key:                       key(c.Key.pk(), c.Key.sk()),
		UpdateExpression:          aws.String(expr),
		ConditionExpression:       aws.String("#lsa = :mine AND #lsb = :by"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
	if isConditionFailed(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("release cooldown on %s/%s: %w", c.Key.pk(), c.Key.sk(), err)
	}
	return nil
}

func isConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return err != nil && errors.As(err, &ccf)
}

// ---- policy parsing ----

func parsePolicy(alarmName string, it map[string]types.AttributeValue) (*policy.Policy, error) {
	pr := &attrParser{}
	p := &policy.Policy{
		AlarmName:          alarmName,
		Fleet:              pr.str(it, "fleet"),
		Region:             pr.str(it, "region"),
		ASGName:            pr.str(it, "asg_name"),
		OnAlarm:            pr.action(it, "on_alarm"),
		OnOK:               pr.action(it, "on_ok"),
		MinCapacity:        pr.optInt(it, "min_capacity"),
		MaxCapacity:        pr.optInt(it, "max_capacity"),
		ComparisonOperator: pr.str(it, "comparison_operator"),
	}
	if v := pr.optInt(it, "cooldown_seconds"); v != nil {
		p.CooldownSeconds = *v
	}
	if v := pr.optInt(it, "max_step"); v != nil {
		p.MaxStep = *v
	}
	if len(pr.probs) > 0 {
		return nil, errors.New(strings.Join(pr.probs, "; "))
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

type attrParser struct{ probs []string }

func (pr *attrParser) bad(format string, args ...any) {
	pr.probs = append(pr.probs, fmt.Sprintf(format, args...))
}

func isNull(v types.AttributeValue) bool {
	_, ok := v.(*types.AttributeValueMemberNULL)
	return v == nil || ok
}

func (pr *attrParser) str(it map[string]types.AttributeValue, name string) string {
	v := it[name]
	if isNull(v) {
		return ""
	}
	sv, ok := v.(*types.AttributeValueMemberS)
	if !ok {
		pr.bad("%s must be a string", name)
		return ""
	}
	return strings.TrimSpace(sv.Value)
}

func (pr *attrParser) optInt(it map[string]types.AttributeValue, name string) *int {
	v := it[name]
	if isNull(v) {
		return nil
	}
	nv, ok := v.(*types.AttributeValueMemberN)
	if !ok {
		pr.bad("%s must be a number", name)
		return nil
	}
	x, err := strconv.Atoi(nv.Value)
	if err != nil {
		pr.bad("%s must be an integer (got %s)", name, nv.Value)
		return nil
	}
	return &x
}

func (pr *attrParser) optFloat(it map[string]types.AttributeValue, name string) *float64 {
	v := it[name]
	if isNull(v) {
		return nil
	}
	nv, ok := v.(*types.AttributeValueMemberN)
	if !ok {
		pr.bad("%s must be a number", name)
		return nil
	}
	x, err := strconv.ParseFloat(nv.Value, 64)
	if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
		pr.bad("%s must be a finite number (got %s)", name, nv.Value)
		return nil
	}
	return &x
}

func (pr *attrParser) action(it map[string]types.AttributeValue, name string) *policy.Action {
	v := it[name]
	if isNull(v) {
		return nil
	}
	m, ok := v.(*types.AttributeValueMemberM)
	if !ok {
		pr.bad("%s must be a map", name)
		return nil
	}
	a := &policy.Action{Direction: policy.Direction(strings.ToLower(pr.str(m.Value, "direction")))}
	steps := m.Value["step_adjustments"]
	if isNull(steps) {
		return a // Validate reports the missing steps
	}
	l, ok := steps.(*types.AttributeValueMemberL)
	if !ok {
		pr.bad("%s.step_adjustments must be a list", name)
		return a
	}
	for idx, sv := range l.Value {
		sm, ok := sv.(*types.AttributeValueMemberM)
		if !ok {
			pr.bad("%s.step_adjustments[%d] must be a map", name, idx)
			continue
		}
		prefix := fmt.Sprintf("%s.step_adjustments[%d].", name, idx)
		sub := &attrParser{}
		st := policy.Step{
			LowerBound: sub.optFloat(sm.Value, "lower_bound"),
			UpperBound: sub.optFloat(sm.Value, "upper_bound"),
		}
		if adj := sub.optInt(sm.Value, "adjustment"); adj != nil {
			st.Adjustment = *adj
		} else if len(sub.probs) == 0 {
			sub.bad("adjustment is required")
		}
		for _, p := range sub.probs {
			pr.probs = append(pr.probs, prefix+p)
		}
		a.Steps = append(a.Steps, st)
	}
	return a
}

// ---- attribute helpers ----

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

func n(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

func putOpt(it map[string]types.AttributeValue, name, v string) {
	if v != "" {
		it[name] = s(v)
	}
}

func getS(it map[string]types.AttributeValue, name string) string {
	if v, ok := it[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}
