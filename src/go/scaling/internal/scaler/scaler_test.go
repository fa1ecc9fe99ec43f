package scaler

// The handler is tested through the interfaces it defines at the point of use
// (Store, AutoScalingAPI, SNSAPI) with small scripted fakes of THOSE
// interfaces: they record what the handler asked for and answer what each
// test tells them to (the registry's ErrDuplicate / ErrCooldownActive, a
// throttling error, ...). What DynamoDB, Auto Scaling and SNS really do with
// these calls is proven against moto by the artifact test
// tests/python/fleetops_tests/artifacts/test_scaling_bootstrap.py, which runs
// the built bootstrap.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/smithy-go"

	"github.com/fleetops/scaling/internal/emf"
	"github.com/fleetops/scaling/internal/policy"
	"github.com/fleetops/scaling/internal/registry"
)

// The breach sample: alarm web-cpu-high in eu-west-1, ALARM at
// 2024-05-14T09:21:07.311Z, datapoints [93.4, 88.1], threshold 70 => breach
// 23.4, which the test policy maps to +3: desired 4 -> 7.
const (
	alarmName = "web-cpu-high"
	timeKey   = "2024-05-14T09:21:07.311Z"
	topic     = "arn:aws:sns:eu-west-1:123456789012:fleet-ops"
	breachEvt = "direct-metric-alarm-breach.json"
)

var (
	now    = time.Date(2024, 5, 14, 9, 21, 10, 0, time.UTC)
	asgKey = registry.ASGKey{Fleet: "web", Region: "eu-west-1", Name: "web-asg"}
)

func sample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "alarm", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fl(v float64) *float64 { return &v }
func in(v int) *int         { return &v }

func testPolicy() *policy.Policy {
	return &policy.Policy{
		AlarmName: alarmName, Fleet: "web", Region: "eu-west-1", ASGName: "web-asg",
		OnAlarm: &policy.Action{Direction: policy.Up, Steps: []policy.Step{
			{UpperBound: fl(10), Adjustment: 1},
			{LowerBound: fl(10), Adjustment: 3},
		}},
		MinCapacity: in(2), MaxCapacity: in(10), CooldownSeconds: 300,
	}
}

// ---- fake Store ----

type finishCall struct {
	Alarm, TimeKey, Outcome, Reason, Err string
	At                                   time.Time
}

type cooldownCall struct {
	Key      registry.ASGKey
	Now      time.Time
	Cooldown time.Duration
	By       string
}

// fakeStore implements Store. Reads answer the fields below; writes are
// recorded and answer the scripted errors (registry.ErrDuplicate,
// registry.ErrCooldownActive, a throttling error, ...).
type fakeStore struct {
	mu sync.Mutex

	policy     *policy.Policy
	policyErr  error
	lock       policy.Lock
	lockErr    error
	lastScaled time.Time
	lastErr    error

	claimErr    error // ClaimDecision
	cooldownErr error // ClaimCooldown
	prevAt      string
	finishErr   error
	releaseErr  error

	calls     []string
	claims    []registry.Decision
	stale     []time.Time
	finishes  []finishCall
	cooldowns []cooldownCall
	granted   []registry.CooldownClaim
	released  []registry.CooldownClaim
}

func (f *fakeStore) record(op string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, op)
}

func (f *fakeStore) GetPolicy(_ context.Context, name string) (*policy.Policy, error) {
	f.record("GetPolicy " + name)
	if f.policyErr != nil || f.policy == nil {
		return nil, f.policyErr
	}
	p := *f.policy
	return &p, nil
}

func (f *fakeStore) GetLock(_ context.Context, fleet string) (policy.Lock, error) {
	f.record("GetLock " + fleet)
	return f.lock, f.lockErr
}

func (f *fakeStore) GetLastScaled(_ context.Context, k registry.ASGKey) (time.Time, error) {
	f.record("GetLastScaled " + k.Name)
	return f.lastScaled, f.lastErr
}

func (f *fakeStore) ClaimDecision(_ context.Context, d registry.Decision, staleBefore time.Time) error {
	f.record("ClaimDecision " + d.Outcome)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.claims = append(f.claims, d)
	f.stale = append(f.stale, staleBefore)
	return f.claimErr
}

func (f *fakeStore) FinishDecision(_ context.Context, alarmName, timeKey, outcome, reason, errMsg string, at time.Time) error {
	f.record("FinishDecision " + outcome)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.finishes = append(f.finishes, finishCall{alarmName, timeKey, outcome, reason, errMsg, at})
	return f.finishErr
}

func (f *fakeStore) ClaimCooldown(_ context.Context, k registry.ASGKey, now time.Time, cooldown time.Duration, by string) (registry.CooldownClaim, error) {
	f.record("ClaimCooldown")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cooldowns = append(f.cooldowns, cooldownCall{k, now, cooldown, by})
	if f.cooldownErr != nil {
		return registry.CooldownClaim{}, f.cooldownErr
	}
	c := registry.CooldownClaim{Key: k, At: now.Unix(), By: by, HadPrev: f.prevAt != "", PrevAt: f.prevAt}
	f.granted = append(f.granted, c)
	return c, nil
}

func (f *fakeStore) ReleaseCooldown(_ context.Context, c registry.CooldownClaim) error {
	f.record("ReleaseCooldown")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.released = append(f.released, c)
	return f.releaseErr
}

func (f *fakeStore) ops() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, len(f.calls))
	for i, c := range f.calls {
		out[i], _, _ = strings.Cut(c, " ")
	}
	return out
}

func (f *fakeStore) has(op string) bool {
	for _, o := range f.ops() {
		if o == op {
			return true
		}
	}
	return false
}

// ---- fake AutoScalingAPI ----

// fakeASG implements AutoScalingAPI for one group.
type fakeASG struct {
	mu       sync.Mutex
	groups   map[string]astypes.AutoScalingGroup
	descErrs []error // answered by successive DescribeAutoScalingGroups calls
	setErrs  []error // answered by successive SetDesiredCapacity calls
	calls    []string
	sets     []*autoscaling.SetDesiredCapacityInput
}

func newFakeASG(desired, min, max int32) *fakeASG {
	return &fakeASG{groups: map[string]astypes.AutoScalingGroup{
		"web-asg": {AutoScalingGroupName: aws.String("web-asg"), DesiredCapacity: aws.Int32(desired), MinSize: aws.Int32(min), MaxSize: aws.Int32(max)},
	}}
}

func next(errs *[]error) error {
	if len(*errs) == 0 {
		return nil
	}
	err := (*errs)[0]
	*errs = (*errs)[1:]
	return err
}

func (f *fakeASG) DescribeAutoScalingGroups(_ context.Context, in *autoscaling.DescribeAutoScalingGroupsInput, _ ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingGroupsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "Describe")
	if err := next(&f.descErrs); err != nil {
		return nil, err
	}
	out := &autoscaling.DescribeAutoScalingGroupsOutput{}
	for _, n := range in.AutoScalingGroupNames {
		if g, ok := f.groups[n]; ok {
			out.AutoScalingGroups = append(out.AutoScalingGroups, g)
		}
	}
	return out, nil
}

func (f *fakeASG) SetDesiredCapacity(_ context.Context, in *autoscaling.SetDesiredCapacityInput, _ ...func(*autoscaling.Options)) (*autoscaling.SetDesiredCapacityOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "Set")
	if err := next(&f.setErrs); err != nil {
		return nil, err
	}
	f.sets = append(f.sets, in)
	g := f.groups[aws.ToString(in.AutoScalingGroupName)]
	g.DesiredCapacity = in.DesiredCapacity
	f.groups[aws.ToString(in.AutoScalingGroupName)] = g
	return &autoscaling.SetDesiredCapacityOutput{}, nil
}

func (f *fakeASG) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c == op {
			n++
		}
	}
	return n
}

// ---- fake SNSAPI ----

type fakeSNS struct {
	mu   sync.Mutex
	msgs []*sns.PublishInput
	err  error
}

func (f *fakeSNS) Publish(_ context.Context, in *sns.PublishInput, _ ...func(*sns.Options)) (*sns.PublishOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.msgs = append(f.msgs, in)
	if f.err != nil {
		return nil, f.err
	}
	return &sns.PublishOutput{MessageId: aws.String("m")}, nil
}

// ---- harness ----

type env struct {
	store   *fakeStore
	asg     *fakeASG
	regions []string
	sns     *fakeSNS
	metrics *bytes.Buffer
	logs    *bytes.Buffer
	h       *Handler
}

func newEnv(t *testing.T, dryRun bool) *env {
	t.Helper()
	e := &env{
		store: &fakeStore{policy: testPolicy()}, asg: newFakeASG(4, 1, 20), sns: &fakeSNS{},
		metrics: &bytes.Buffer{}, logs: &bytes.Buffer{},
	}
	clock := func() time.Time { return now }
	e.h = New(Deps{
		Store: e.store,
		AutoScaling: func(region string) AutoScalingAPI {
			e.regions = append(e.regions, region)
			return e.asg
		},
		SNS:     e.sns,
		Metrics: emf.New(e.metrics, "FleetOps", "scaling", clock),
		Logger:  slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:     clock,
	}, Options{Environment: "dev", TopicARN: topic, DryRun: dryRun, DecisionTTL: 24 * time.Hour})
	return e
}

func (e *env) handle(t *testing.T, payload []byte) (*Result, error) {
	t.Helper()
	return e.h.Handle(context.Background(), payload)
}

func (e *env) outcomesEmitted(t *testing.T) []string {
	t.Helper()
	var out []string
	dec := json.NewDecoder(bytes.NewReader(e.metrics.Bytes()))
	for dec.More() {
		var rec map[string]any
		if err := dec.Decode(&rec); err != nil {
			t.Fatal(err)
		}
		if rec["Decisions"] != float64(1) {
			t.Fatalf("bad EMF record %v", rec)
		}
		out = append(out, rec["Outcome"].(string))
	}
	return out
}

func (e *env) notified(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, m := range e.sns.msgs {
		var msg map[string]any
		if err := json.Unmarshal([]byte(aws.ToString(m.Message)), &msg); err != nil {
			t.Fatal(err)
		}
		out = append(out, msg)
	}
	return out
}

// throttle is what the SDK returns once its retries are exhausted.
func throttle() error {
	return &smithy.OperationError{ServiceID: "Auto Scaling", OperationName: "SetDesiredCapacity",
		Err: &smithy.GenericAPIError{Code: "Throttling", Message: "Rate exceeded"}}
}

// ---- tests ----

func TestApplied(t *testing.T) {
	e := newEnv(t, false)
	res, err := e.handle(t, sample(t, breachEvt))
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != policy.Applied || *res.FromCapacity != 4 || *res.ToCapacity != 7 || *res.Breach != 23.4 ||
		res.Fleet != "web" || res.ASG != "web-asg" || res.Region != "eu-west-1" || res.DryRun {
		t.Fatalf("unexpected result %+v", res)
	}

	// The facts are read before anything is written, then the claims, then the action.
	want := []string{"GetPolicy", "GetLock", "GetLastScaled", "ClaimDecision", "ClaimCooldown", "FinishDecision"}
	if got := e.store.ops(); !reflect.DeepEqual(got, want) {
		t.Fatalf("store calls %v, want %v", got, want)
	}
	if got := e.asg.calls; !reflect.DeepEqual(got, []string{"Describe", "Set"}) {
		t.Fatalf("Auto Scaling calls %v", got)
	}
	for _, r := range e.regions {
		if r != "eu-west-1" {
			t.Fatalf("ASG client for region %q, want the policy's region", r)
		}
	}

	claim := e.store.claims[0]
	wantClaim := registry.Decision{
		AlarmName: alarmName, TimeKey: timeKey, AlarmARN: "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:web-cpu-high",
		State: "ALARM", PreviousState: "OK", Source: "alarm-action",
		Fleet: "web", Region: "eu-west-1", ASGName: "web-asg",
		HasCapacity: true, From: 4, To: 7, Adjustment: 3, Breach: claim.Breach, BreachKnown: true,
		Outcome: registry.OutcomePending, Reason: claim.Reason, DecidedAt: now, ExpiresAt: now.Add(24 * time.Hour),
	}
	if !reflect.DeepEqual(claim, wantClaim) || claim.Breach < 23.39 || claim.Breach > 23.41 || !strings.Contains(claim.Reason, "desired 4 -> 7") {
		t.Fatalf("claim\n got %+v\nwant %+v", claim, wantClaim)
	}
	if !e.store.stale[0].Equal(now.Add(-15 * time.Minute)) {
		t.Fatalf("stale-claim limit %v, want 15 minutes before now", e.store.stale[0])
	}
	if got := e.store.cooldowns; len(got) != 1 || got[0] != (cooldownCall{asgKey, now, 300 * time.Second, alarmName + "@" + timeKey}) {
		t.Fatalf("cooldown claim %+v", got)
	}
	set := e.asg.sets[0]
	if aws.ToString(set.AutoScalingGroupName) != "web-asg" || aws.ToInt32(set.DesiredCapacity) != 7 ||
		set.HonorCooldown == nil || *set.HonorCooldown {
		t.Fatalf("SetDesiredCapacity %+v (HonorCooldown must be false: the registry holds the cooldown)", set)
	}
	if f := e.store.finishes; len(f) != 1 || f[0].Outcome != "applied" || f[0].Err != "" ||
		f[0].Alarm != alarmName || f[0].TimeKey != timeKey || !f[0].At.Equal(now) {
		t.Fatalf("finish %+v", f)
	}
	if len(e.store.released) != 0 {
		t.Fatalf("a successful scaling released its cooldown claim")
	}

	if got := e.outcomesEmitted(t); !reflect.DeepEqual(got, []string{"applied"}) {
		t.Fatalf("metrics %v", got)
	}
	msgs := e.notified(t)
	if len(msgs) != 1 {
		t.Fatalf("want one notification, got %d", len(msgs))
	}
	for k, want := range map[string]any{
		"alarm": alarmName, "state": "ALARM", "previous_state": "OK", "state_changed_at": timeKey,
		"source": "alarm-action", "fleet": "web", "asg": "web-asg", "region": "eu-west-1",
		"from_capacity": float64(4), "to_capacity": float64(7), "breach": 23.4,
		"outcome": "applied", "dry_run": false, "environment": "dev",
	} {
		if msgs[0][k] != want {
			t.Errorf("notification %s = %v, want %v", k, msgs[0][k], want)
		}
	}
	if _, ok := msgs[0]["error"]; ok || msgs[0]["reason"] == "" {
		t.Errorf("notification %v", msgs[0])
	}
	if aws.ToString(e.sns.msgs[0].TopicArn) != topic || aws.ToString(e.sns.msgs[0].Subject) != "[dev] scaling applied: web-cpu-high" {
		t.Errorf("published to %q with subject %q", aws.ToString(e.sns.msgs[0].TopicArn), aws.ToString(e.sns.msgs[0].Subject))
	}
	if _, err := json.Marshal(res); err != nil {
		t.Fatalf("result not serialisable: %v", err)
	}
	if !strings.Contains(e.logs.String(), `"msg":"scaling decision"`) || !strings.Contains(e.logs.String(), `"outcome":"applied"`) {
		t.Fatalf("structured log missing: %s", e.logs.String())
	}
}

// Outcomes settled when the decision is claimed: the record is written final,
// nothing is claimed on the ASG, Auto Scaling is not asked to change anything,
// and the outcome is reported (metric + notification).
func TestOutcomesDecidedBeforeAnyAction(t *testing.T) {
	okEvent := func(t *testing.T) []byte {
		return bytes.Replace(sample(t, breachEvt), []byte(`"value": "ALARM"`), []byte(`"value": "OK"`), 1)
	}
	for _, tt := range []struct {
		name      string
		payload   func(t *testing.T) []byte
		prep      func(e *env)
		want      policy.Outcome
		reason    string
		asgCalls  []string
		storeOps  []string
		wantFleet bool
	}{
		{
			name: "no policy", want: policy.NoPolicy, reason: `no scaling policy for alarm "web-cpu-high"`,
			prep:     func(e *env) { e.store.policy = nil },
			storeOps: []string{"GetPolicy", "ClaimDecision"},
		},
		{
			name: "live lock", want: policy.Locked, reason: `fleet "web" is locked for deployment by deploy-42 until 2024-05-14T09:31:10Z`,
			prep: func(e *env) {
				e.store.lock = policy.Lock{Exists: true, Owner: "deploy-42", Kind: "deployment", ExpiresAt: now.Add(10 * time.Minute)}
			},
			storeOps: []string{"GetPolicy", "GetLock", "ClaimDecision"}, wantFleet: true,
		},
		{
			name: "lock without expiry", want: policy.Locked, reason: "(no expiry)",
			prep:     func(e *env) { e.store.lock = policy.Lock{Exists: true, Owner: "maint-7", Kind: "maintenance"} },
			storeOps: []string{"GetPolicy", "GetLock", "ClaimDecision"}, wantFleet: true,
		},
		{
			name: "OK without on_ok", payload: okEvent, want: policy.NoChange, reason: "policy has no action for state OK",
			storeOps: []string{"GetPolicy", "GetLock", "ClaimDecision"}, wantFleet: true,
		},
		{
			name: "already at the maximum", want: policy.NoChange, reason: "already at or above the maximum (10 >= 10)",
			prep:     func(e *env) { e.asg = newFakeASG(10, 1, 20) },
			asgCalls: []string{"Describe"}, storeOps: []string{"GetPolicy", "GetLock", "GetLastScaled", "ClaimDecision"}, wantFleet: true,
		},
		{
			name: "cooldown read from the registry", want: policy.Cooldown, reason: "ASG scaled at 2024-05-14T09:20:10Z, cooldown 300s",
			prep:     func(e *env) { e.store.lastScaled = now.Add(-time.Minute) },
			asgCalls: []string{"Describe"}, storeOps: []string{"GetPolicy", "GetLock", "GetLastScaled", "ClaimDecision"}, wantFleet: true,
		},
		{
			name: "asg not found", want: policy.Failed, reason: `auto scaling group not found: "web-asg" in eu-west-1`,
			prep:     func(e *env) { delete(e.asg.groups, "web-asg") },
			asgCalls: []string{"Describe"}, storeOps: []string{"GetPolicy", "GetLock", "GetLastScaled", "ClaimDecision"}, wantFleet: true,
		},
		{
			name: "invalid policy", want: policy.Failed, reason: "max_capacity must be a number",
			prep: func(e *env) {
				e.store.policyErr = fmt.Errorf("%w for alarm %q: max_capacity must be a number", registry.ErrInvalidPolicy, alarmName)
			},
			storeOps: []string{"GetPolicy", "ClaimDecision"},
		},
	} {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, false)
			if tt.prep != nil {
				tt.prep(e)
			}
			payload := sample(t, breachEvt)
			if tt.payload != nil {
				payload = tt.payload(t)
			}
			res, err := e.handle(t, payload)
			if err != nil {
				t.Fatalf("returned an error (Lambda would retry what a retry cannot change): %v", err)
			}
			if res.Outcome != tt.want || !strings.Contains(res.Reason, tt.reason) {
				t.Fatalf("outcome %s (%s), want %s (%s)", res.Outcome, res.Reason, tt.want, tt.reason)
			}
			if got := e.store.ops(); !reflect.DeepEqual(got, tt.storeOps) {
				t.Fatalf("store calls %v, want %v", got, tt.storeOps)
			}
			if !reflect.DeepEqual(e.asg.calls, tt.asgCalls) {
				t.Fatalf("Auto Scaling calls %v, want %v", e.asg.calls, tt.asgCalls)
			}
			if c := e.store.claims[0]; c.Outcome != string(tt.want) || c.Reason != res.Reason || c.DryRun {
				t.Fatalf("decision recorded as %q (%q)", c.Outcome, c.Reason)
			}
			if (res.Fleet == "web") != tt.wantFleet {
				t.Fatalf("fleet in result %q", res.Fleet)
			}
			if got := e.outcomesEmitted(t); !reflect.DeepEqual(got, []string{string(tt.want)}) {
				t.Fatalf("metrics %v", got)
			}
			if msgs := e.notified(t); len(msgs) != 1 || msgs[0]["outcome"] != string(tt.want) {
				t.Fatalf("notifications %v", msgs)
			}
		})
	}
}

func TestExpiredLockIsFree(t *testing.T) {
	e := newEnv(t, false)
	e.store.lock = policy.Lock{Exists: true, Owner: "deploy-41", ExpiresAt: now.Add(-time.Second)}
	if res, err := e.handle(t, sample(t, breachEvt)); err != nil || res.Outcome != policy.Applied {
		t.Fatalf("%+v %v", res, err)
	}
}

// A redelivered state change (the decision claim's condition fails) does
// nothing and is not notified again; what this delivery would decide now is
// not what was done, so the result carries no capacities.
func TestDuplicateDeliveryDoesNothing(t *testing.T) {
	for _, tt := range []struct {
		name   string
		dryRun bool
		prep   func(e *env)
	}{
		{"scale decision", false, nil},
		{"dry run", true, nil},
		{"final decision (locked)", false, func(e *env) { e.store.lock = policy.Lock{Exists: true} }},
	} {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.dryRun)
			if tt.prep != nil {
				tt.prep(e)
			}
			e.store.claimErr = registry.ErrDuplicate
			res, err := e.handle(t, sample(t, breachEvt))
			if err != nil {
				t.Fatal(err)
			}
			if res.Outcome != policy.Duplicate || res.FromCapacity != nil || res.ToCapacity != nil || res.Breach != nil ||
				!strings.Contains(res.Reason, "already handled") {
				t.Fatalf("want duplicate without capacities, got %+v", res)
			}
			if e.asg.count("Set") != 0 || e.store.has("ClaimCooldown") || e.store.has("FinishDecision") {
				t.Fatalf("a duplicate acted: store %v, Auto Scaling %v", e.store.ops(), e.asg.calls)
			}
			if len(e.sns.msgs) != 0 {
				t.Fatalf("a duplicate must not notify again (%d messages)", len(e.sns.msgs))
			}
			if got := e.outcomesEmitted(t); !reflect.DeepEqual(got, []string{"duplicate"}) {
				t.Fatalf("metrics %v", got)
			}
		})
	}
}

// The same state change delivered directly, through EventBridge and through
// SNS claims the same decision record, so the conditional claim deduplicates
// across channels.
func TestSameStateChangeClaimsTheSameRecordOnEveryChannel(t *testing.T) {
	eb := []byte(`{"version":"0","id":"1","detail-type":"CloudWatch Alarm State Change","source":"aws.cloudwatch","account":"111122223333","time":"2024-05-14T09:21:07Z","region":"eu-west-1","resources":["arn:aws:cloudwatch:eu-west-1:111122223333:alarm:web-cpu-high"],"detail":{"alarmName":"web-cpu-high","state":{"value":"ALARM","reason":"Threshold Crossed: 1 out of the last 1 datapoints [75.0 (14/05/24 09:20:00)] was greater than the threshold (70.0).","reasonData":"{\"recentDatapoints\":[75.0],\"threshold\":70.0}","timestamp":"2024-05-14T09:21:07.311+0000"},"previousState":{"value":"OK","timestamp":"2024-05-14T09:11:07.125+0000"},"configuration":{"metrics":[]}}}`)
	msg := `{"AlarmName":"web-cpu-high","AWSAccountId":"111122223333","NewStateValue":"ALARM","NewStateReason":"Threshold Crossed: 1 out of the last 1 datapoints [75.0 (14/05/24 09:20:00)] was greater than the threshold (70.0).","StateChangeTime":"2024-05-14T09:21:07.311+0000","Region":"EU (Ireland)","AlarmArn":"arn:aws:cloudwatch:eu-west-1:111122223333:alarm:web-cpu-high","OldStateValue":"OK","Trigger":{"ComparisonOperator":"GreaterThanThreshold","Threshold":70.0}}`
	quoted, _ := json.Marshal(msg)
	viaSNS := []byte(`{"Records":[{"EventSource":"aws:sns","EventVersion":"1.0","Sns":{"Type":"Notification","MessageId":"m","TopicArn":"arn:aws:sns:eu-west-1:111122223333:alarms","Subject":"ALARM","Message":` + string(quoted) + `,"Timestamp":"2024-05-14T09:21:07.400Z"}}]}`)

	e := newEnv(t, false)
	for _, p := range [][]byte{sample(t, breachEvt), eb, viaSNS} {
		if res, err := e.handle(t, p); err != nil || res.Outcome != policy.Applied {
			t.Fatalf("%+v %v", res, err)
		}
	}
	var sources []string
	for _, c := range e.store.claims {
		if c.AlarmName != alarmName || c.TimeKey != timeKey {
			t.Fatalf("claim keyed %q/%q, want %q/%q", c.AlarmName, c.TimeKey, alarmName, timeKey)
		}
		sources = append(sources, c.Source)
	}
	if !reflect.DeepEqual(sources, []string{"alarm-action", "eventbridge", "sns"}) {
		t.Fatalf("sources %v", sources)
	}
}

// Two alarms race for the same ASG: the other one claims the cooldown between
// our read of last_scaled_at and our conditional update.
func TestCooldownRaceLost(t *testing.T) {
	e := newEnv(t, false)
	e.store.cooldownErr = registry.ErrCooldownActive
	res, err := e.handle(t, sample(t, breachEvt))
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != policy.Cooldown || !strings.Contains(res.Reason, "claimed the cooldown first") {
		t.Fatalf("want cooldown, got %+v", res)
	}
	if e.asg.count("Set") != 0 || len(e.store.released) != 0 {
		t.Fatalf("scaled or released despite losing the race: %v %v", e.asg.calls, e.store.ops())
	}
	if e.store.claims[0].Outcome != registry.OutcomePending {
		t.Fatalf("claimed as %q", e.store.claims[0].Outcome)
	}
	if f := e.store.finishes; len(f) != 1 || f[0].Outcome != "cooldown" || f[0].Err != "" {
		t.Fatalf("finish %+v", f)
	}
	if msgs := e.notified(t); len(msgs) != 1 || msgs[0]["outcome"] != "cooldown" {
		t.Fatalf("notifications %v", msgs)
	}
}

func TestDryRunRecordsWithoutScaling(t *testing.T) {
	e := newEnv(t, true)
	res, err := e.handle(t, sample(t, breachEvt))
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != policy.DryRun || !res.DryRun || *res.ToCapacity != 7 || !strings.HasPrefix(res.Reason, "DRY_RUN: would set desired capacity; ") {
		t.Fatalf("unexpected %+v", res)
	}
	if e.asg.count("Set") != 0 || e.store.has("ClaimCooldown") {
		t.Fatalf("DRY_RUN changed the fleet or the ASG record: %v %v", e.asg.calls, e.store.ops())
	}
	if c := e.store.claims[0]; !c.DryRun || c.Outcome != registry.OutcomePending {
		t.Fatalf("claim %+v", c)
	}
	if f := e.store.finishes; len(f) != 1 || f[0].Outcome != "dry_run" {
		t.Fatalf("finish %+v", f)
	}
	if msgs := e.notified(t); len(msgs) != 1 || msgs[0]["dry_run"] != true || msgs[0]["outcome"] != "dry_run" {
		t.Fatalf("notifications %v", msgs)
	}
}

// SetDesiredCapacity still throttled after the SDK's retries (the retryer
// itself is tested in package awsclient and end to end): the cooldown claim
// is released, the decision is recorded failed, the error is returned for
// Lambda to retry, and the retry scales.
func TestThrottledScalingFailsThenRetrySucceeds(t *testing.T) {
	for _, throttled := range []int{1, 2} {
		throttled := throttled
		t.Run(fmt.Sprintf("throttled %d times", throttled), func(t *testing.T) {
			e := newEnv(t, false)
			e.store.prevAt = fmt.Sprint(now.Add(-time.Hour).Unix())
			for i := 0; i < throttled; i++ {
				e.asg.setErrs = append(e.asg.setErrs, throttle())
			}
			payload := sample(t, breachEvt)
			for i := 0; i < throttled; i++ {
				res, err := e.handle(t, payload)
				var api smithy.APIError
				if err == nil || !errors.As(err, &api) || api.ErrorCode() != "Throttling" {
					t.Fatalf("attempt %d: want the throttling error returned, got %v", i+1, err)
				}
				if res.Outcome != policy.Failed || res.Reason != "SetDesiredCapacity failed" || !strings.Contains(res.Error, "Rate exceeded") {
					t.Fatalf("attempt %d: unexpected result %+v", i+1, res)
				}
				if got := e.store.released; len(got) != i+1 || got[i] != e.store.granted[i] || !got[i].HadPrev {
					t.Fatalf("attempt %d: released %+v, granted %+v", i+1, got, e.store.granted)
				}
				if f := e.store.finishes[i]; f.Outcome != "failed" || !strings.Contains(f.Err, "Rate exceeded") {
					t.Fatalf("attempt %d: finish %+v", i+1, f)
				}
			}
			res, err := e.handle(t, payload)
			if err != nil || res.Outcome != policy.Applied || *res.ToCapacity != 7 {
				t.Fatalf("retry: %+v %v", res, err)
			}
			if e.asg.count("Set") != throttled+1 || len(e.asg.sets) != 1 || aws.ToInt32(e.asg.sets[0].DesiredCapacity) != 7 {
				t.Fatalf("calls %v", e.asg.calls)
			}
			if len(e.store.released) != throttled {
				t.Fatalf("the successful attempt released its claim")
			}
			var want []string
			for i := 0; i < throttled; i++ {
				want = append(want, "failed")
			}
			want = append(want, "applied")
			if got := e.outcomesEmitted(t); !reflect.DeepEqual(got, want) {
				t.Fatalf("metrics %v, want %v", got, want)
			}
			if len(e.sns.msgs) != throttled+1 {
				t.Fatalf("%d notifications", len(e.sns.msgs))
			}
		})
	}
}

// A failure to release the cooldown claim is returned with the scaling error.
func TestReleaseFailureIsReturnedToo(t *testing.T) {
	e := newEnv(t, false)
	e.asg.setErrs = []error{throttle()}
	e.store.releaseErr = errors.New("release throttled")
	res, err := e.handle(t, sample(t, breachEvt))
	var api smithy.APIError
	if err == nil || !errors.As(err, &api) || !strings.Contains(err.Error(), "release throttled") || res.Outcome != policy.Failed {
		t.Fatalf("got %+v %v", res, err)
	}
	if !strings.Contains(e.logs.String(), "could not release the cooldown claim") {
		t.Fatalf("release failure not logged")
	}
}

// Transient errors before anything is claimed: returned to Lambda (whose
// retry starts from scratch), nothing written, nothing scaled.
func TestTransientErrorsBeforeTheClaim(t *testing.T) {
	ddbThrottle := &smithy.OperationError{ServiceID: "DynamoDB", OperationName: "GetItem",
		Err: &smithy.GenericAPIError{Code: "ProvisionedThroughputExceededException", Message: "slow down"}}
	for _, tt := range []struct {
		name string
		prep func(e *env)
		code string
	}{
		{"policy read throttled", func(e *env) { e.store.policyErr = ddbThrottle }, "ProvisionedThroughputExceededException"},
		{"lock read throttled", func(e *env) { e.store.lockErr = ddbThrottle }, "ProvisionedThroughputExceededException"},
		{"last_scaled_at read throttled", func(e *env) { e.store.lastErr = ddbThrottle }, "ProvisionedThroughputExceededException"},
		{"describe throttled", func(e *env) { e.asg.descErrs = []error{throttle()} }, "Throttling"},
	} {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, false)
			tt.prep(e)
			res, err := e.handle(t, sample(t, breachEvt))
			var api smithy.APIError
			if err == nil || !errors.As(err, &api) || api.ErrorCode() != tt.code || res.Outcome != policy.Failed ||
				res.Reason != "could not gather the facts for a decision" {
				t.Fatalf("want failed with the error, got %+v %v", res, err)
			}
			if e.asg.count("Set") != 0 || e.store.has("ClaimDecision") || e.store.has("ClaimCooldown") || e.store.has("FinishDecision") {
				t.Fatalf("nothing may be written before the facts are known: %v %v", e.store.ops(), e.asg.calls)
			}
			if msgs := e.notified(t); len(msgs) != 1 || msgs[0]["outcome"] != "failed" || msgs[0]["error"] == "" {
				t.Fatalf("notifications %v", msgs)
			}
		})
	}
}

// A claim that fails for another reason than its condition is not a
// duplicate or a cooldown: the error goes back to Lambda.
func TestTransientErrorsWhileClaiming(t *testing.T) {
	ddbThrottle := &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}
	t.Run("decision claim", func(t *testing.T) {
		e := newEnv(t, false)
		e.store.claimErr = ddbThrottle
		res, err := e.handle(t, sample(t, breachEvt))
		if !errors.Is(err, ddbThrottle) || res.Outcome != policy.Failed || res.Reason != "could not record the decision" {
			t.Fatalf("%+v %v", res, err)
		}
		if e.store.has("ClaimCooldown") || e.store.has("FinishDecision") || e.asg.count("Set") != 0 {
			t.Fatalf("acted after a failed claim: %v %v", e.store.ops(), e.asg.calls)
		}
	})
	t.Run("cooldown claim", func(t *testing.T) {
		e := newEnv(t, false)
		e.store.cooldownErr = ddbThrottle
		res, err := e.handle(t, sample(t, breachEvt))
		if !errors.Is(err, ddbThrottle) || res.Outcome != policy.Failed || res.Reason != "could not claim the ASG cooldown" {
			t.Fatalf("%+v %v", res, err)
		}
		if e.asg.count("Set") != 0 || len(e.store.released) != 0 {
			t.Fatalf("acted without the cooldown claim: %v %v", e.store.ops(), e.asg.calls)
		}
		// Recorded failed, so that Lambda's retry may claim the state change again.
		if f := e.store.finishes; len(f) != 1 || f[0].Outcome != "failed" || !strings.Contains(f[0].Err, "Rate exceeded") {
			t.Fatalf("finish %+v", f)
		}
	})
}

// Once the fleet action is settled, failing to record the final outcome is
// logged, not returned: a retry would only find the pending claim.
func TestFinishFailureIsLoggedNotReturned(t *testing.T) {
	e := newEnv(t, false)
	e.store.finishErr = errors.New("update throttled")
	res, err := e.handle(t, sample(t, breachEvt))
	if err != nil || res.Outcome != policy.Applied {
		t.Fatalf("%+v %v", res, err)
	}
	if !strings.Contains(e.logs.String(), "could not record the decision outcome") {
		t.Fatalf("not logged: %s", e.logs.String())
	}
}

func TestUnsupportedEventMakesNoCall(t *testing.T) {
	for _, payload := range []string{`{"httpMethod":"GET"}`, `[]`, string(sample(t, "sns-plain-message.json")), string(sample(t, "eventbridge-config-change.json"))} {
		e := newEnv(t, false)
		res, err := e.handle(t, []byte(payload))
		if err == nil || !strings.HasPrefix(err.Error(), "unsupported event: ") || res != nil {
			t.Fatalf("payload %s: want unsupported event error, got %+v %v", payload, res, err)
		}
		if len(e.store.ops()) != 0 || len(e.asg.calls) != 0 || len(e.regions) != 0 || len(e.sns.msgs) != 0 || e.metrics.Len() != 0 {
			t.Fatalf("AWS calls made for an unsupported event: %v %v", e.store.ops(), e.asg.calls)
		}
	}
}

func TestNotificationFailureDoesNotFailTheInvocation(t *testing.T) {
	e := newEnv(t, false)
	e.sns.err = &smithy.GenericAPIError{Code: "Throttling", Message: "Rate exceeded"}
	res, err := e.handle(t, sample(t, breachEvt))
	if err != nil || res.Outcome != policy.Applied {
		t.Fatalf("%+v %v", res, err)
	}
	if len(e.sns.msgs) != 1 || !strings.Contains(e.logs.String(), "could not publish notification") {
		t.Fatalf("publish failure not logged")
	}
	if f := e.store.finishes; len(f) != 1 || f[0].Outcome != "applied" {
		t.Fatalf("finish %+v", f)
	}
}

func TestSubject(t *testing.T) {
	res := &Result{Outcome: policy.Applied, Alarm: "cpu\nhigh-é" + strings.Repeat("x", 200)}
	s := subject("prod", res)
	if len(s) > 100 || strings.ContainsAny(s, "\né") || !strings.HasPrefix(s, "[prod] scaling applied: cpu?high-?") {
		t.Fatalf("bad subject %q", s)
	}
}
