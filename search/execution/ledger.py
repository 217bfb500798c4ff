"""The trial lifecycle on Optuna's ledger: enqueue, claim, heartbeat, release, record.

Each planned trial is enqueued as a waiting Optuna trial whose user attributes hold its plan
index and configuration; the study's user attributes hold the spec it was launched with, so a
second launch can extend the plan or refuse another spec. This is the one module that reads
and writes Optuna's trials; ``studies.storage`` opens the study it works on.
"""

from __future__ import annotations

import hashlib
import math
import os
import socket
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from search.execution.job import EpochRecord, TrialOutcome
from search.space.distributions import param_value
from search.space.plan import Plan, with_seed
from search.space.spec import StudySpec
from studies.results import forget_model, record_model
from studies.storage import PREPARED_ATTR, OpenStudy, StudyError
from vae.scores import MONITORED

PLAN_INDEX = "plan_index"
SEED_NUMBER = "seed_number"  # which of its configuration's seeds a trial trains (absent: 0)
CONFIG = "config"
# The study attribute holding the sampled hyperparameters' Optuna distributions (JSON by name),
# written at launch; a claimed trial's configuration is recorded as params under them.
PARAM_DISTRIBUTIONS = "param_distributions"
RUN_ID = "run_id"  # the run whose worker claimed a trial, so an interrupted run can release it
WORKER = "worker"  # the machine and process training a trial, for messages
# A worker names itself on a trial before it tries to claim it: the attribute's key names
# the host and process as people read them, its value the process as this machine knows it
# (boot, pid namespace, pid; studies of earlier releases have it in the key). When every
# process that tried is gone, a run on the same machine puts the trial back at once, however
# little of the claim was written after its state.
CLAIMANT = "claimant "
REASON = "reason"  # why a trial failed
TRAINING_FAILED = "training_failed"  # the training itself failed (not a stop or a lost worker)
PROGRESS = "progress"  # a running trial's TrialProgress, brought up to date at each heartbeat
RETRIES = "retries"  # study attribute: how often a failed training is planned again
SEEDS = "seeds"  # study attribute: trainings per configuration (raised by a later launch)
RACING = "racing"  # study attribute: whether further seeds are raced (search.execution.racing)
SCORE_EVERY = "score_every"  # study attribute: a training scores validation every N epochs
PEAK_MEMORY = "peak_memory_mb"  # a finished trial's job at its peak, in MB
GPU = "gpu"  # the GPU a trial's job was pinned to (CUDA_VISIBLE_DEVICES), where it was
AP_CURVE = "val_latent_ap_by_epoch"  # a finished trial's validation latent PR-AUC per epoch
# What a trial's value is: the validation latent PR-AUC of its kept weights, over windows, with
# failed windows abnormal (maximized), what ``best`` ranks by by default; a study launched
# before it minimizes its trials' validation loss and keeps doing so
OBJECTIVE = MONITORED["latent"]
LEGACY_OBJECTIVE = "val_loss"
DESCRIPTION = "description"  # study attribute: what the study is, for the dashboard's reader
STUDY_DESCRIPTION = (
    "The search's trainings, one trial each, live while they train. Value: the validation "
    f"latent PR-AUC of the weights a training kept ({OBJECTIVE}, maximized), what `best` ranks "
    "by; val_loss is a user attribute and the learning curve (intermediate values)."
)
# A trial attribute: its attempt was interrupted (its run stopped, its worker vanished) and
# its plan entry planned again; the trial is FAIL in Optuna, but its training did not fail
INTERRUPTED = "interrupted"


def name_objective(study, name: str) -> None:
    """Name a study's objective for the dashboard (Optuna's metric names are "experimental")."""
    import warnings

    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names([name])


def objective_of(study) -> str:
    """The name of what a study's trial values are: :data:`OBJECTIVE` where it maximizes,
    :data:`LEGACY_OBJECTIVE` in a study launched before (minimized)."""
    from optuna.study import StudyDirection

    return OBJECTIVE if study.direction == StudyDirection.MAXIMIZE else LEGACY_OBJECTIVE


def interrupted(cause: str) -> str:
    """The reason recorded for a trial put back to waiting because its run ended: ``cause``
    says how (which signal, which error)."""
    return f"interrupted: {cause}; planned again"


def put_back(trial) -> bool:
    """Whether a trial failed only because its run stopped or its worker vanished: its
    configuration was planned again, so it is neither finished nor a failed training."""
    return trial.state.name == "FAIL" and not trial.user_attrs.get(TRAINING_FAILED)


def spec_fingerprint(source: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}\n{source}".encode()).hexdigest()


def record_launch(
    study, spec: StudySpec, seed: int, where: str, prepared: str, distributions: dict[str, str]
) -> bool:
    """Record the spec, its seed, the prepared data's file name, the sampled hyperparameters'
    distributions and the retries on first launch; on a later one refuse any other spec or
    seed. Returns True when this launch created the study's record."""
    spec_source, spec_name = spec.source, spec.path.name
    fingerprint = spec_fingerprint(spec_source, seed)
    recorded = study.user_attrs.get("spec_fingerprint")
    if recorded is None:
        study.set_user_attr("spec_fingerprint", fingerprint)
        study.set_user_attr("spec_name", spec_name)
        study.set_user_attr("spec_text", spec_source)
        study.set_user_attr("plan_seed", seed)
        study.set_user_attr(PREPARED_ATTR, prepared)
        study.set_user_attr(PARAM_DISTRIBUTIONS, distributions)
        study.set_user_attr(RETRIES, spec.retries)
        study.set_user_attr(RACING, spec.racing)
        study.set_user_attr(SCORE_EVERY, spec.score_every)
        if objective_of(study) == OBJECTIVE:
            name_objective(study, OBJECTIVE)
            study.set_user_attr(DESCRIPTION, STUDY_DESCRIPTION)
        return True
    if recorded != fingerprint:
        raise StudyError(
            f"{where}: {spec_name} with seed {seed} is not what this study was launched with "
            f"({study.user_attrs.get('spec_name')}, seed {study.user_attrs.get('plan_seed')}); "
            "launch with that spec and seed to add trials, or use another study"
        )
    return False


class Entry(NamedTuple):
    """What one training stands for: a planned configuration and which of its seeds."""

    plan_index: int
    seed_number: int = 0

    def __str__(self) -> str:
        return (
            str(self.plan_index)
            if not self.seed_number
            else (f"{self.plan_index} seed {self.seed_number}")
        )


def entry_of(trial) -> Entry | None:
    """The plan entry a trial trains (None for a trial of no plan)."""
    attrs = trial.user_attrs
    if PLAN_INDEX not in attrs:
        return None
    return Entry(int(attrs[PLAN_INDEX]), int(attrs.get(SEED_NUMBER, 0)))


def record_seeds(study, seeds: int) -> int:
    """Raise the study's trainings per configuration to ``seeds`` (never lower it: a launch
    with fewer keeps what was planned); returns the study's count."""
    recorded = int(study.user_attrs.get(SEEDS, 1))
    if seeds > recorded:
        study.set_user_attr(SEEDS, seeds)
    return max(seeds, recorded)


def enqueue_plan(study, plan: Plan, seeds: int, racing: bool) -> int:
    """Enqueue the planned trainings the study does not hold yet: each configuration's first
    ``seeds`` seeds, or only its first one when its further seeds are raced (the race enqueues
    them as results come in); returns how many."""
    present = plan_entries(study.get_trials(deepcopy=False))
    plan_seed = int(study.user_attrs["plan_seed"])
    added = 0
    for trial in plan.trials:
        config = trial.hyperparameters.to_dict()
        for seed_number in range(1 if racing else seeds):
            if (trial.index, seed_number) not in present:
                enqueue_seed(study, Entry(trial.index, seed_number), config, plan_seed)
                added += 1
    return added


def enqueue_seed(study, entry: Entry, config: dict[str, Any], plan_seed: int) -> None:
    """Enqueue a configuration's training with seed ``entry.seed_number`` (``config`` as
    planned, with any seed: the entry's own is derived here)."""
    seeded = with_seed(config, plan_seed, entry.plan_index, entry.seed_number)
    enqueue(study, entry.plan_index, seeded, **_seed_attrs(entry.seed_number))


def planned_before_tcn_choice(study) -> bool:
    """Whether the study was planned before ``tcn`` and ``batchnorm_momentum`` existed."""
    trials = study.get_trials(deepcopy=False)
    return any(CONFIG in t.user_attrs and "tcn" not in t.user_attrs[CONFIG] for t in trials)


def plan_entries(trials) -> set[Entry]:
    """The plan entries these trials stand for (a retried entry counts once)."""
    return {entry for entry in map(entry_of, trials) if entry is not None}


def configurations(trials) -> set[int]:
    """The planned configurations these trials train."""
    return {entry.plan_index for entry in plan_entries(trials)}


def state_counts(trials) -> dict[str, int]:
    """Trials by Optuna state, a put-back trial counted as ``INTERRUPTED``: Optuna has no such
    state and records it as FAIL, but its training did not fail."""
    return dict(Counter("INTERRUPTED" if put_back(t) else t.state.name for t in trials))


def enqueue(study, index: int, config: dict[str, Any], **extra: Any) -> None:
    study.enqueue_trial(params={}, user_attrs={PLAN_INDEX: index, CONFIG: config, **extra})


def enqueue_retry(study, trial) -> None:
    """Enqueue again the plan entry of a trial that died with its worker."""
    entry = entry_of(trial)
    seed = _seed_attrs(entry.seed_number)
    enqueue(study, entry.plan_index, trial.user_attrs[CONFIG], retry_of=trial.number, **seed)


def _seed_attrs(seed_number: int) -> dict[str, int]:
    """A trial's seed-number attribute: none for a configuration's first seed, as trials
    planned before seeds existed have none."""
    return {SEED_NUMBER: seed_number} if seed_number else {}


def _distributions(recorded: dict[str, str]) -> dict[str, Any]:
    from optuna.distributions import json_to_distribution

    return {name: json_to_distribution(text) for name, text in recorded.items()}


@dataclass(frozen=True)
class ClaimedTrial:
    trial_id: int
    number: int
    plan_index: int
    config: dict[str, Any]
    seed_number: int = 0

    @property
    def entry(self) -> Entry:
        return Entry(self.plan_index, self.seed_number)


class Ledger:
    """The study's trials as a worker sees them: claim, heartbeat, record."""

    def __init__(self, opened: OpenStudy) -> None:
        self.opened = opened
        self.storage = opened.storage
        self.study = opened.study
        self.study_id = opened.study_id
        self.distributions = _distributions(self.study.user_attrs.get(PARAM_DISTRIBUTIONS, {}))
        self.objective = objective_of(self.study)

    def fail_stale_trials(self) -> int:
        """Fail every running trial whose heartbeat stopped or whose worker is gone, with the
        reason, and plan each again, once; returns how many. Optuna judges staleness (no
        heartbeat for the grace period); its own ``fail_stale_trials`` fails them without a
        word of why."""
        found = f"found at {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC"
        failed = 0
        for trial_id, why in self._stale_trials().items():
            trial = self.storage.get_trial(trial_id)
            worker = trial.user_attrs.get(WORKER, "?")
            failed += self._fail_and_plan_again(
                trial_id, trial, f"{why}, {found} (worker {worker})"
            )
        return failed

    def _fail_and_plan_again(self, trial_id: int, trial, reason: str) -> bool:
        """Fail a running trial with ``reason`` and enqueue its plan entry again; False when
        its worker recorded it after all."""
        from optuna.exceptions import UpdateFinishedTrialError
        from optuna.trial import TrialState

        try:
            self.storage.set_trial_user_attr(trial_id, REASON, reason)
            # Optuna has no interrupted state: FAIL, and this attribute, which says otherwise
            self.storage.set_trial_user_attr(trial_id, INTERRUPTED, True)
            if not self.storage.set_trial_state_values(trial_id, TrialState.FAIL):
                return False
        except UpdateFinishedTrialError:
            return False
        enqueue_retry(self.study, trial)
        return True

    def _stale_trials(self) -> dict[int, str]:
        """Running trials whose worker is gone, by why: no heartbeat for the grace period
        (Optuna's test); a worker process of this machine that no longer runs (a run that
        ended before it could put its trials back, say on a full disk); or a worker that died
        while claiming a trial, before naming itself: running longer than the grace period
        with no worker recorded."""
        stopped = f"heartbeat stopped: none for over {self.opened.grace_period} s"
        stale = dict.fromkeys(self.opened.stale_trial_ids(), stopped)
        now = datetime.now()  # Optuna stamps trials with naive local times
        for trial in self.trials("RUNNING"):
            started = trial.datetime_start or now
            late = (now - started).total_seconds() > self.opened.grace_period
            if _claimants_gone(trial.user_attrs):
                stale[self._trial_id(trial)] = "worker gone: its process no longer runs"
            elif WORKER not in trial.user_attrs and late:
                stale[self._trial_id(trial)] = stopped
        return stale

    def trials(self, *states: str) -> list:
        """The study's trials, uncopied: of the named states (e.g. "RUNNING"), or all."""
        from optuna.trial import TrialState

        chosen = tuple(TrialState[state] for state in states) or None
        return self.storage.get_all_trials(self.study_id, deepcopy=False, states=chosen)

    def _trial_id(self, trial) -> int:
        return self.storage.get_trial_id_from_study_id_trial_number(self.study_id, trial.number)

    def running(self) -> list[RunningTrial]:
        """The trials running now: who runs them, since when, and how far they are."""
        return [RunningTrial.of(t) for t in self.trials("RUNNING")]

    def completed_entries(self) -> set[Entry]:
        """The plan entries with a completed trial."""
        return plan_entries(self.trials("COMPLETE"))

    def peak_job_memory_mb(self) -> float | None:
        """The most memory a finished trial's job took (MB), None before one was measured."""
        peaks = [t.user_attrs.get(PEAK_MEMORY) for t in self.trials("COMPLETE", "FAIL")]
        return max((peak for peak in peaks if peak), default=None)

    def waiting(self) -> int:
        return len(self.trials("WAITING"))

    def retry_failed(self) -> int:
        """Plan again, with its seed, every plan entry whose every attempt failed; how many.
        Each attempt stays a failed trial with its own reason."""
        latest = {}
        for trial in self.trials():
            if (entry := entry_of(trial)) is not None:
                latest.setdefault(entry, []).append(trial)
        again = 0
        for attempts in latest.values():
            if all(t.state.name == "FAIL" for t in attempts):
                enqueue_retry(self.study, max(attempts, key=lambda t: t.number))
                again += 1
        return again

    def claim_next(self, run_id: str) -> ClaimedTrial | None:
        """Atomically move the oldest waiting trial to RUNNING (None: nothing waits).

        Optuna's storage changes a trial's state only if no other process changed it first,
        so two workers never get the same trial. The trial is marked with ``run_id``.
        """
        from optuna.exceptions import UpdateFinishedTrialError
        from optuna.trial import TrialState

        waiting = self.trials("WAITING")
        for trial in waiting:
            trial_id = self._trial_id(trial)
            self._name_claimant(trial_id)
            try:
                if not self.storage.set_trial_state_values(trial_id, state=TrialState.RUNNING):
                    continue
            except UpdateFinishedTrialError:
                continue
            config = dict(trial.user_attrs[CONFIG])
            try:
                self._mark_claimed(trial_id, run_id, config)
            except Exception:
                self._put_back(trial_id)
                raise
            entry = entry_of(trial)
            return ClaimedTrial(trial_id, trial.number, entry.plan_index, config, entry.seed_number)
        return None

    def _name_claimant(self, trial_id: int) -> None:
        """Name this worker's process on the trial before trying to claim it (a write that
        fails here leaves the trial waiting, untouched): whichever worker wins the claim has
        named itself, so once every process named is gone, the trial's worker is."""
        process = _this_process()
        if process is not None:
            boot = process.split(" ", 1)[0][:8]  # two machines of one host name differ here
            key = f"{CLAIMANT}{_worker_name()} (boot {boot})"
            self.storage.set_trial_user_attr(trial_id, key, process)

    def _mark_claimed(self, trial_id: int, run_id: str, config: dict[str, Any]) -> None:
        """The claim's writes after the state's: the run (what its release looks for), the
        first heartbeat, the worker's name (a trial without it, and so perhaps without a
        heartbeat, is stale after the grace period), the parameters."""
        self.storage.set_trial_user_attr(trial_id, RUN_ID, run_id)
        self.storage.record_heartbeat(trial_id)
        self.storage.set_trial_user_attr(trial_id, WORKER, _worker_name())
        self._record_params(trial_id, config)

    def _put_back(self, trial_id: int) -> bool:
        """Make a running trial wait again as it was (one row's state: the write most likely
        to go through when others did not, a full disk say); False when even that fails,
        and then the trial's heartbeat going stale puts it back."""
        from optuna.trial import TrialState

        try:
            return self.storage.set_trial_state_values(trial_id, TrialState.WAITING)
        except Exception:
            return False

    def _record_params(self, trial_id: int, config: dict[str, Any]) -> None:
        """The sampled hyperparameters as Optuna params, for optuna-dashboard's plots."""
        for name, distribution in self.distributions.items():
            if name in config:
                internal = distribution.to_internal_repr(param_value(config[name]))
                self.storage.set_trial_param(trial_id, name, internal, distribution)

    def release(self, run_id: str, cause: str) -> int:
        """Fail the trials ``run_id`` was running and plan each again, ``cause`` saying why the
        run ended; returns how many.

        For a run that stopped: its trials wait again at once, instead of after their
        heartbeats go stale. Where failing a trial cannot be recorded (a full disk), the trial
        waits again as it was. Trials of other runs (other machines) are left alone.
        """
        mine = [t for t in self.trials("RUNNING") if t.user_attrs.get(RUN_ID) == run_id]
        return sum(self._release(t, interrupted(cause)) for t in mine)

    def _release(self, trial, reason: str) -> bool:
        trial_id = self._trial_id(trial)
        try:
            return self._fail_and_plan_again(trial_id, trial, reason)
        except Exception:
            return self._put_back(trial_id)

    def heartbeat(self, trial_id: int) -> None:
        self.storage.record_heartbeat(trial_id)

    def record_gpu(self, trial_id: int, gpu: str) -> None:
        self.storage.set_trial_user_attr(trial_id, GPU, gpu)

    def put_back_stopped(self, claimed: ClaimedTrial, cause: str) -> bool:
        """Put a trial back to waiting whose job ended without failing (checkpointed at the
        run's time limit, or lost with the run's job server), as a stopped run's trials are;
        False when it was finished elsewhere."""
        trial = self.storage.get_trial(claimed.trial_id)
        return self._fail_and_plan_again(claimed.trial_id, trial, interrupted(cause))

    def mean_trial_seconds(self) -> float | None:
        """The mean duration of the study's completed trials (None before one completed)."""
        durations = [
            (t.datetime_complete - t.datetime_start).total_seconds()
            for t in self.trials("COMPLETE")
            if t.datetime_start and t.datetime_complete
        ]
        return sum(durations) / len(durations) if durations else None

    def report_epoch(self, trial_id: int, epoch: int, val_loss: float | None) -> None:
        """An epoch's validation loss as the trial's intermediate value (Optuna's
        ``trial.report``): optuna-dashboard draws them as the trial's learning curve."""
        if val_loss is not None:
            self.storage.set_trial_intermediate_value(trial_id, epoch, val_loss)

    def record_progress(self, trial_id: int, progress: TrialProgress) -> None:
        self.storage.set_trial_user_attr(trial_id, PROGRESS, asdict(progress))

    def record_result(self, claimed: ClaimedTrial, outcome: TrialOutcome) -> bool:
        """Attributes and model row first, state last: COMPLETE means everything is recorded.

        False, with nothing of it kept, when another run had finished the trial meanwhile
        (this worker slept past its heartbeat and the trial was planned again). A failed
        training is planned again while the spec's ``retries`` allow.
        """
        from optuna.exceptions import UpdateFinishedTrialError
        from optuna.trial import TrialState

        trial_id = claimed.trial_id
        summary = outcome.summary
        attrs = {
            "model_name": outcome.model_name,
            "model_path": outcome.model_path,
            REASON: outcome.reason,
            **{k: v for k, v in summary.items() if k not in ("status", "reason")},
            "epoch_seconds": outcome.epoch_seconds,
            PEAK_MEMORY: outcome.peak_memory_mb,
            AP_CURVE: outcome.ap_curve or None,
        }
        try:
            for key, value in attrs.items():
                if value is not None:
                    self.storage.set_trial_user_attr(trial_id, key, value)
            if not outcome.completed:
                self.storage.set_trial_user_attr(trial_id, TRAINING_FAILED, True)
                self.storage.set_trial_state_values(trial_id, TrialState.FAIL)
                self._retry_within_budget(claimed)
                return True
            record_model(
                self.opened.engine,
                name=str(outcome.model_name),
                path=str(outcome.model_path),
                config=claimed.config,
                trial_number=claimed.number,
                plan_index=claimed.plan_index,
                loss=summary.get("loss"),
                val_loss=outcome.val_loss,
                epochs_trained=summary.get("epochs_trained"),
            )
            try:
                self.storage.set_trial_state_values(
                    trial_id, TrialState.COMPLETE, values=[self._value(outcome)]
                )
            except UpdateFinishedTrialError:
                forget_model(self.opened.engine, str(outcome.model_name))
                raise
        except UpdateFinishedTrialError:
            return False
        return True

    def _value(self, outcome: TrialOutcome) -> float:
        """A completed trial's value: its kept weights' validation PR-AUC (-inf where it is
        undefined, a validation split without failed windows: Optuna stores no NaN), or its
        validation loss in a study launched before."""
        if self.objective == LEGACY_OBJECTIVE:
            return outcome.val_loss
        value = outcome.summary.get(OBJECTIVE)
        return value if value is not None and math.isfinite(value) else -math.inf

    def _retry_within_budget(self, claimed: ClaimedTrial) -> None:
        """Plan a failed training again while its failures are within the spec's retries."""
        retries = int(self.study.user_attrs.get(RETRIES, 0))
        trials = self.trials()
        failures = sum(
            entry_of(t) == claimed.entry and bool(t.user_attrs.get(TRAINING_FAILED)) for t in trials
        )
        if failures <= retries:
            seed = _seed_attrs(claimed.seed_number)
            enqueue(self.study, claimed.plan_index, claimed.config, retry_of=claimed.number, **seed)


@dataclass(frozen=True)
class TrialProgress:
    """How far a trial's training is: its last epoch, the best validation loss so far and at
    which epoch, when the last epoch ended (seconds since the epoch of time.time), and the
    latest validation latent PR-AUC the training scored."""

    epoch: int = 0
    best_val_loss: float | None = None
    best_epoch: int | None = None
    last_epoch_at: float | None = None
    val_latent_ap: float | None = None

    def after(self, record: EpochRecord) -> TrialProgress:
        """The progress once ``record``'s epoch has ended."""
        val = record.val_loss
        better = (
            val is not None
            and math.isfinite(val)
            and (self.best_val_loss is None or val < self.best_val_loss)
        )
        best = (val, record.epoch) if better else (self.best_val_loss, self.best_epoch)
        ap = record.logs.get(MONITORED["latent"])
        ap = ap if ap is not None and math.isfinite(ap) else self.val_latent_ap
        return TrialProgress(record.epoch, *best, record.at, ap)

    @classmethod
    def of(cls, curve: dict[int, float], recorded: dict | None) -> TrialProgress:
        """From the reported curve (live: an epoch's value is written as it ends) and the
        progress attribute (written at each heartbeat: ``last_epoch_at`` lags by up to one)."""
        stored = cls(**recorded) if recorded else cls()
        finite = {step: value for step, value in curve.items() if math.isfinite(value)}
        if not curve or max(curve) <= stored.epoch:
            return stored
        best_epoch = min(finite, key=finite.get) if finite else None
        best = finite.get(best_epoch) if best_epoch is not None else None
        # the newest epoch's time and score: not known
        return cls(max(curve), best, best_epoch, None, stored.val_latent_ap)


@dataclass(frozen=True)
class RunningTrial:
    number: int
    entry: Entry
    worker: str
    since: datetime | None
    progress: TrialProgress = TrialProgress()
    epochs: int = 0  # the most it may train
    gpu: str | None = None  # the GPU its job is pinned to

    @classmethod
    def of(cls, trial) -> RunningTrial:
        """A running Optuna trial as the ledger records it."""
        attrs = trial.user_attrs
        return cls(
            trial.number,
            entry_of(trial) or Entry(-1),
            str(attrs.get(WORKER, "an unknown worker")),
            trial.datetime_start,
            TrialProgress.of(trial.intermediate_values, attrs.get(PROGRESS)),
            int(attrs.get(CONFIG, {}).get("epochs", 0)),
            attrs.get(GPU),
        )

    def line(self) -> str:
        since = "?" if self.since is None else f"{self.since:%Y-%m-%d %H:%M:%S}"
        return f"trial {self.number} (plan entry {self.entry}) on {self.where} since {since}"

    @property
    def where(self) -> str:
        """The worker, and the GPU its job sees where it was pinned to one."""
        return self.worker if self.gpu is None else f"{self.worker}, GPU {self.gpu}"


def _worker_name() -> str:
    """Who trains a trial: this machine and process, for messages about it."""
    return f"{socket.gethostname()} pid {os.getpid()}"


def _this_machine() -> str | None:
    """This machine's boot and pid namespace: where a process id means one process (None
    where /proc does not tell)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        return f"{boot} {os.readlink('/proc/self/ns/pid')}"
    except OSError:
        return None


def _this_process() -> str | None:
    machine = _this_machine()
    return None if machine is None else f"{machine} {os.getpid()}"


def _claimants_gone(attrs: dict[str, Any]) -> bool:
    """Whether processes tried to claim the trial and every one is gone from this machine."""
    claimants = [(key, value) for key, value in attrs.items() if key.startswith(CLAIMANT)]
    return bool(claimants) and all(
        _gone_from_here(str(value)) or _gone_from_here(key.removeprefix(CLAIMANT))  # older form
        for key, value in claimants
    )


def _gone_from_here(process: str) -> bool:
    """Whether a process as :func:`_this_process` names it ran on this machine and runs no
    longer (a process id taken again by another process counts as running: its trial then
    waits for its heartbeat to go stale, as on another machine)."""
    machine, _, pid = process.rpartition(" ")
    if machine != _this_machine():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (OSError, ValueError):
        return False
    return False
