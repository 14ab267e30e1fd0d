"""Findings: stable codes (like a linter's), severities, and the long explanations for ``explain``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from ckptfix.exitcodes import FINDINGS, OK, UNREADABLE, worst
from ckptfix.records import Record
from ckptfix.text import clip

#: How much a finding matters; it decides the exit code (``exit_code``).
Severity = Literal["fatal", "error", "warning", "info"]


class Rule(Record):
    """A finding's catalogue entry: stable code, severity, and how to fix it (``ckptfix explain``)."""

    code: str
    name: str
    severity: Severity
    summary: str
    explanation: str
    fix: str
    #: The flags ``ckptfix repair`` needs to fix it ("" for none; placeholders W, G say what to fill in);
    #: None when repair does not fix it. The human output's next command is built from it.
    repair: str | None = None


class Finding(Record):
    """One inconsistency found in one checkpoint: which file and key, what was found and expected."""

    code: str
    severity: Severity
    file: str | None
    key: str | None
    found: Any
    expected: Any
    message: str

    @property
    def rule(self) -> Rule:
        return RULES[self.code]

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.rule.name,
            "severity": self.severity,
            "file": self.file,
            "key": self.key,
            "found": self.found,
            "expected": self.expected,
            "message": self.message,
            "fix": self.rule.fix,
        }


#: Each severity's exit code, least to worst (a warning counts as an error with ``--strict``).
SEVERITY_EXIT: dict[str, int] = {"info": OK, "warning": OK, "error": FINDINGS, "fatal": UNREADABLE}


def exit_code(findings: Iterable[Finding], strict: bool = False, waived: frozenset[str] = frozenset()) -> int:
    """The exit code findings give (the CI gate's contract): the worst of their severities' (3 if any is fatal:
    unreadable or hostile; 1 if any is an error, a warning too with ``strict``; else 0). ``waived``: codes the
    user has settled (a step disagreement settled by ``--step``)."""
    return worst((FINDINGS if strict and f.severity == "warning" else SEVERITY_EXIT[f.severity]
                  for f in findings if f.code not in waived), OK)


def make_finding(code: str, file: object, key: str | None, found: Any, expected: Any, message: str,
                 severity: Severity | None = None) -> Finding:
    """A finding of rule ``code`` (its severity unless overridden), the file named as a string; the
    message is clipped (``ckptfix.text.clip``): ``found`` and ``expected`` keep the values whole."""
    sev = severity or RULES[code].severity
    return Finding(code, sev, str(file) if file is not None else None, key, found, expected, clip(message))


_RULES = [
    Rule("CKF001", "scheduler-missing", "error", "scheduler.bin is missing but the optimizer has state",
         "accelerate's load_state loads scheduler.bin with no fallback: a checkpoint without it cannot be "
         "resumed with --resume_from_checkpoint. Schedule-free optimizers (param_groups with 'k' / "
         "'train_mode') legitimately have none; this finding is only raised when the optimizer is not one.",
         "ckptfix repair PATH --lr-warmup-steps W [--lr-end E] creates it from the optimizer's step count.", repair="--lr-warmup-steps W --lr-end E"),
    Rule("CKF002", "unreadable-file", "fatal", "a file could not be read safely",
         "The file is empty, truncated, corrupt, not a torch/JSON/safetensors file, or exceeds a "
         "resource limit. Resuming from it would fail or load garbage. ckptfix never writes to such a checkpoint.",
         "Restore the file from a backup or an earlier checkpoint; ckptfix repair PATH --recreate --lr-warmup-steps W rebuilds a "
         "scheduler.bin from the optimizer when only the scheduler file is damaged."),
    Rule("CKF003", "unsafe-pickle", "fatal", "a pickle asks for code outside the allowlist",
         "Unpickling this file would import and call the named globals: arbitrary code execution. "
         "ckptfix decoded its opcodes without running anything and refuses it. Scheduler and optimizer "
         "states only ever need builtin containers, OrderedDict, tensor-rebuild functions, storage types and dtypes.",
         "Do not load this checkpoint with a full unpickler (weights_only off) or accelerate. Delete the file; "
         "ckptfix repair PATH --recreate --lr-warmup-steps W rebuilds scheduler.bin from the optimizer state."),
    Rule("CKF004", "resume-file-missing", "error", "a file the trainer's resume loads is missing",
         "accelerate's load_state (the resume of SimpleTuner, the diffusers scripts, kohya and plain accelerate) "
         "loads optimizer.bin and scheduler.bin for every prepared optimizer and scheduler with no fallback, "
         "numbered files by index, and the model's weights (model.safetensors, or the trainer's own files such "
         "as pytorch_lora_weights.safetensors). An empty or partial checkpoint-N, the kind a killed save leaves "
         "(the diffusers scripts save straight into checkpoint-N, without a -tmp folder first), is still the "
         "one --resume_from_checkpoint latest picks, and the resume stops on the first missing file. Only "
         "random_states_*.pkl is optional (load_state tolerates its absence). The transformers Trainer reads "
         "trainer_state.json, which it writes last: a save killed before it leaves a checkpoint-N that "
         "get_last_checkpoint still picks, and train(resume_from_checkpoint=...) raises FileNotFoundError.",
         "ckptfix cannot recreate these files. Move the partial folder out of the output folder (or delete it) "
         "so that the previous checkpoint becomes the latest, then inspect again."),
    Rule("CKF005", "repair-leftovers", "warning", "a killed ckptfix repair left files behind",
         "ckptfix repair writes each new file as <stem>.ckptfix-tmp-<hex> beside the real one and renames it "
         "into place, takes .ckptfix/lock through a temporary lock file, and writes a backup folder's "
         "manifest.json before it changes anything. A repair killed in between (or stopped by a full disk) "
         "leaves these: a temporary file (as large as the optimizer for --optimizer-lr), a lock temp file, "
         "an empty lock, or a backup folder without a manifest. The checkpoint's own files are intact (the "
         "original or the complete new file); the leftovers only take space and, for a lock, block repairs.",
         "Run ckptfix repair on the checkpoint: under its lock it removes the leftovers whose names are exactly "
         "its own and says what it removed. Anything else is reported and left for you to look at.", repair=""),
    Rule("CKF006", "state-file-encoding", "error", "the trainer cannot decode its state file",
         "ckptfix reads the trainer's JSON state file in any encoding JSON allows, but the trainers read it as UTF-8 "
         "text without a byte-order mark: SimpleTuner with json.load(open(path)), kohya and the transformers Trainer "
         "with open(path, encoding='utf-8'). A file saved with a byte-order mark, or as UTF-16 or UTF-32 (an editor, "
         "a Windows tool, a conversion script), makes that read fail. SimpleTuner catches the error, logs \"Error "
         "loading training state\" and resumes from global_step 0 with epoch_step 0: its step count and, through "
         "last_epoch, the whole LR schedule start again. kohya and the Trainer stop.",
         "SimpleTuner's training_state*.json: ckptfix repair PATH writes it again as plain UTF-8, every value and the "
         "rest of the text kept (backed up, atomic, verified; ckptfix restore undoes it). kohya's train_state.json and "
         "the Trainer's trainer_state.json: save it as UTF-8 without a byte-order mark (iconv -f UTF-16 -t UTF-8, "
         "or an editor's plain 'UTF-8').", repair=""),
    Rule("CKF010", "step-sources-disagree", "error", "the checkpoint's step sources disagree",
         "The step of a checkpoint comes from training_state.json's global_step, else the folder name "
         "checkpoint-N, else the optimizer's step count. When they disagree ckptfix cannot know which "
         "step the scheduler should be at. With gradient accumulation epoch_step differs from the "
         "global step and is not compared.",
         "Find out which is right, then pass it: ckptfix repair PATH --step G.", repair="--step G"),
    Rule("CKF011", "last-epoch-not-multiplied", "error", "last_epoch equals the step, not N x step",
         "accelerate's AcceleratedScheduler steps the wrapped scheduler once per process for every "
         "optimizer step (split_batches=False), so with N processes last_epoch should be N x g. This "
         "state has last_epoch == g: it was stepped once per optimizer step, or resumed with N=1 "
         "after training with N>1 processes. SimpleTuner builds T_0 = warmup x N, so the phase is off.",
         "ckptfix repair PATH (N is the number of random_states_*.pkl or --num-processes).", repair=""),
    Rule("CKF012", "last-epoch-mismatch", "error", "last_epoch is not N x the checkpoint's step",
         "The scheduler's last_epoch should equal N x g (N processes, g optimizer steps). On resume "
         "accelerate loads last_epoch as stored, so the LR would continue from the wrong phase.",
         "ckptfix repair PATH.", repair=""),
    Rule("CKF020", "t-cur-wrong", "error", "T_cur is not the closed-form value for last_epoch",
         "For the fixed sine, T_cur = last_epoch - (start of the current cycle), exactly as torch's "
         "CosineAnnealingWarmRestarts computes it. SimpleTuner's pre-fix step() derived T_cur wrongly "
         "on resume, so the stored value drifts from last_epoch.",
         "ckptfix repair PATH.", repair=""),
    Rule("CKF021", "t-i-wrong", "error", "T_i is not the current cycle length",
         "With T_mult > 1 each cycle is T_mult times longer: T_i = T_0 x T_mult^n after n restarts. A "
         "wrong T_i means a restart was missed or applied twice.",
         "ckptfix repair PATH.", repair=""),
    Rule("CKF022", "last-lr-wrong", "error", "_last_lr is not the fixed sine formula's value",
         "The stored _last_lr (and the optimizer's lr) is what training resumes with. It should be "
         "eta_min + (base - eta_min) x (0.5 + 0.5 cos(2 pi T_cur / T_i)), truncated to 1e-9 like the trainer does.",
         "ckptfix repair PATH.", repair=""),
    Rule("CKF030", "written-by-sine-v1", "error", "written by SimpleTuner's pre-fix sine (v1)",
         "SimpleTuner's sine from 2024-02-16 to 2024-09-09 used (1 - cos(pi/2 + pi T_cur/T_i)) / 2, which "
         "ignores lr_end: the LR never goes below (base + eta_min) / 2, the 'half LR floor' bug.",
         "ckptfix repair PATH rewrites the state to the fixed formula at the same step.", repair=""),
    Rule("CKF031", "written-by-sine-v2", "error", "written by SimpleTuner's sin-based sine (v2)",
         "SimpleTuner's sine from 2024-09-09 uses 0.5 (1 + sin(pi total_steps / T_0)): period 2 T_0, "
         "T_cur frozen at -1, and a total_steps attribute, which accelerate treats as a step budget "
         "(it stops stepping the scheduler once _step_count > total_steps, freezing the LR).",
         "ckptfix repair PATH rewrites the state to the fixed formula and drops total_steps.", repair=""),
    Rule("CKF040", "optimizer-lr-mismatch", "warning", "optimizer param_groups lr differs from _last_lr",
         "The first optimizer step after a resume runs with param_groups[i]['lr'] from optimizer.bin, "
         "before the scheduler steps again. It should equal the scheduler's _last_lr[i].",
         "ckptfix repair PATH --optimizer-lr patches the 8-byte lr floats in optimizer.bin's pickle (tensors untouched); "
         "without it the next scheduler step overwrites the lr anyway.", repair="--optimizer-lr"),
    Rule("CKF041", "optimizer-initial-lr-mismatch", "warning", "optimizer initial_lr differs from base_lrs",
         "param_groups[i]['initial_lr'] is set by the scheduler's constructor from the learning rate; "
         "it should equal base_lrs[i]. A mismatch means the scheduler state came from another run.",
         "Check --learning-rate; ckptfix repair PATH --learning-rate LR sets base_lrs.", repair="--optimizer-lr"),
    Rule("CKF050", "resume-key-missing", "error", "a key the resume path needs is missing",
         "SimpleTuner's sine from 2024-09-09 to 2025-01-04 did not store _step_count; accelerate's "
         "resume then fails with \"'Sine' object has no attribute '_step_count'\" (SimpleTuner issue #1137).",
         "ckptfix repair PATH writes the value the reference Sine holds.", repair=""),
    Rule("CKF060", "flag-disagrees-with-state", "warning", "a command-line value disagrees with the state",
         "On resume accelerate replaces the fresh scheduler's attributes with the stored ones "
         "(__dict__.update): T_0, eta_min and base_lrs come from the checkpoint, not from "
         "--lr-warmup-steps, --lr-end or --learning-rate. The flag you passed will not take effect.",
         "ckptfix repair PATH with the same flags makes the state use them.", repair=""),
    Rule("CKF070", "bad-value", "error", "a scheduler value is not usable",
         "A value is NaN, infinite, negative, zero where a period is needed (T_0 = 0), or of the wrong "
         "type. The scheduler would raise or produce NaN learning rates.",
         "ckptfix repair PATH with --lr-warmup-steps / --lr-end / --learning-rate as needed.", repair=""),
    Rule("CKF080", "checkpoint-incomplete", "info", "no .guard file: the save may not have finished",
         "Recent SimpleTuner (PR #2719, 2026) writes .guard as the last file of a checkpoint. A checkpoint "
         "with checkpoint_manifest.json but no .guard may be half-written; older SimpleTuner and other "
         "trainers never write it, so this is information only.",
         "Prefer an earlier complete checkpoint if files are missing."),
    Rule("CKF090", "step-unknown", "info", "the optimizer's step count could not be read",
         "ckptfix reads the step count where each optimizer family keeps it and says 'unknown' rather "
         "than guess. Checks against the step use the other sources.",
         "Pass --step G to repair if no other source exists."),
    # -- trainer layouts (issue 7): Hugging Face Trainer, DeepSpeed ------------------------------------
    Rule("CKF100", "trainer-last-epoch-mismatch", "error", "the Trainer's scheduler last_epoch is not global_step",
         "transformers.Trainer steps its LR scheduler once per optimizer step (it does not wrap it in "
         "accelerate's per-process stepping), so scheduler.pt's last_epoch should equal trainer_state.json's "
         "global_step. The one legitimate exception: with fp16 loss scaling, a step whose optimizer update was "
         "skipped (overflow) advances global_step but not the scheduler, so last_epoch can trail by the number "
         "of skipped steps. On resume the Trainer loads last_epoch as stored: the schedule continues from there.",
         "Check whether the run used fp16 with overflows; otherwise the scheduler state comes from another "
         "step or run: take scheduler.pt from the matching checkpoint."),
    Rule("CKF101", "trainer-logged-lr-mismatch", "warning", "the last logged learning_rate differs from the optimizer's lr",
         "trainer_state.json's log_history records the learning rate the Trainer logged. Before transformers "
         "4.51 that is the LR after the scheduler stepped, which is exactly what optimizer.pt's "
         "param_groups[0]['lr'] holds when the log is at global_step. A different value means the optimizer "
         "(or the scheduler behind it) is not the one that produced the log. From 4.51 (PR #36973) the Trainer "
         "logs the LR of the step just taken, one scheduler step earlier, and this check is not made.",
         "Find the files that belong together; resuming continues from optimizer.pt's lr."),
    Rule("CKF102", "engine-step-disagrees", "error", "DeepSpeed's global_steps disagrees with the checkpoint's step",
         "DeepSpeed counts every engine step in global_steps (mp_rank_00_model_states.pt). It should equal "
         "the trainer's step (training_state.json's global_step, else the folder's N).",
         "Find out which is right, then pass it: ckptfix repair PATH --step G."),
    Rule("CKF103", "engine-scheduler-position", "error", "DeepSpeed's scheduler is not at global_steps - skipped_steps",
         "When DeepSpeed owns the LR scheduler (lr_scheduler in mp_rank_00_model_states.pt), the engine steps "
         "it once per optimizer step that was not skipped for overflow: a DeepSpeed schedule's "
         "last_batch_iteration is global_steps - skipped_steps - 1 (it starts at -1), a torch scheduler's "
         "last_epoch is global_steps - skipped_steps.",
         "The scheduler state comes from another step or run: restore the tag folder from the matching checkpoint."),
    # -- what the trainer will resume with (issue 11) ---------------------------------------------------
    Rule("CKF110", "num-processes-unknown", "error", "the number of training processes N is not known",
         "The scheduler's position is N x the step, so checking it (and repairing it) needs N. "
         "random_states_*.pkl counts only the ranks that saved: SimpleTuner up to 4.9.2, kohya sd-scripts and "
         "the diffusers scripts save on rank 0 only, so one file means N >= 1. ckptfix weighs every source "
         "(--num-processes; per-rank files; T_0 = --lr-warmup-steps x N; last_epoch / step when the state is "
         "consistent with its formula) and none settles it here; the message lists the candidates.",
         "Pass the run's process count: ckptfix inspect/repair PATH --num-processes N (or --lr-warmup-steps W).",
         repair="--num-processes N"),
    Rule("CKF111", "resume-lr-off", "error", "the resumed run's LR differs from the target formula's",
         "ckptfix replays what the trainer's resume does: accelerate's load_state restores scheduler.bin and "
         "optimizer.bin; SimpleTuner then overwrites last_epoch (releases before 4.10 with training_state.json's "
         "epoch_step x N, from 4.10.0 with global_step x N). The first optimizer step uses optimizer.bin's lr, "
         "the next ones the formula the trainer runs from that last_epoch. Compared with the uninterrupted run "
         "of the target formula at the true step, the LR goes wrong from the step the message names. "
         "SimpleTuner's epoch_step drifts from global_step (+1 per epoch boundary, and after a resume with "
         "gradient accumulation), so a state that is right in scheduler.bin can still resume off schedule.",
         "ckptfix repair PATH: it rewrites the scheduler state and, for SimpleTuner before 4.10, the epoch_step "
         "its resume reads; pass --trainer simpletuner==VERSION when the message names several releases.",
         repair=""),
    Rule("CKF115", "resume-first-step-lr", "error", "the first step after the resume uses another LR than the target",
         "accelerate's load_state restores optimizer.bin's param_groups lr, and the first optimizer step after "
         "the resume runs with it, before the scheduler steps again; from the second step on the scheduler sets "
         "the LR. Here that stored lr is not the target formula's value at the checkpoint's step (a state written "
         "by another formula, or repaired without --optimizer-lr). One step at a wrong LR is a resume that does "
         "not follow its schedule: an error, given beside the other findings of the resume (CKF111) so that the "
         "advised repair fixes them all in one run.",
         "ckptfix repair PATH --optimizer-lr sets optimizer.bin's lr (8 bytes per value; tensors untouched).",
         repair="--optimizer-lr"),
    Rule("CKF112", "latest-undecided", "info", "the trainer's 'latest' rule does not decide between folders",
         "SimpleTuner (and the diffusers scripts) sort checkpoint folders by the number after 'checkpoint-' with "
         "a stable sort: checkpoint-30 and checkpoint-30-rolling tie, and os.listdir order (the filesystem's, "
         "not a rule) decides which one a resume loads. ckptfix checks every folder the rule may pick.",
         "Remove or rename the folder you do not want resumed, so that the rule picks one."),
    Rule("CKF113", "latest-rule-fails", "error", "the trainer's 'latest' rule fails on a folder name",
         "SimpleTuner sorts every entry of the output folder that starts with 'checkpoint' by "
         "int(name.split('-')[1]); a name where that fails (a 'checkpoints' folder, 'checkpoint-best', a file "
         "'checkpoint.txt') makes it return None, and the trainer starts a new training run instead of resuming, "
         "silently. The diffusers scripts raise and stop; accelerate's load_state() raises on a name without a "
         "digit. A folder ckptfix does not read (still being written) picked as latest fails the same way.",
         "Move or rename the entry the message names, then inspect again."),
    Rule("CKF116", "latest-not-a-folder", "error", "the entry the trainer resumes as latest is not a checkpoint folder",
         "SimpleTuner, the diffusers scripts and accelerate's load_state() pick the latest checkpoint from the "
         "output folder's names (os.listdir), folders or not: a checkpoint-50 that is a dangling symbolic link "
         "(its target moved, or on a disk that is not mounted), a symbolic link loop or a plain file, next to a good "
         "checkpoint-30, is what a resume picks. accelerate's load_state then raises (\"Tried to find ... but folder "
         "does not exist\") and the run does not start. Starting training without --resume_from_checkpoint instead "
         "would throw the run away. (The transformers Trainer keeps folders only: it skips such an entry.)",
         "Move the entry out of the output folder, or make the link lead to the checkpoint folder again; then the "
         "previous checkpoint is the latest: inspect again."),
    Rule("CKF117", "resume-value-unusable", "error", "a value the trainer's resume computes with is not usable",
         "The trainer's resume takes some values of its state file as they are: SimpleTuner's global_step "
         "(training_state.json), kohya's current_step (train_state.json), the transformers Trainer's global_step, "
         "logging_steps, eval_steps and save_steps (trainer_state.json). ckptfix takes a step only from a JSON "
         "integer; the trainer computes with whatever is there: null, a string, a list or an object stops the resume "
         "with a TypeError, a float or a fraction changes its step arithmetic, a missing step is 0 (the run counts "
         "from the start again). The message says what the resume does with this value.",
         "Set the value by hand to what it should be (the checkpoint's step: the folder name and the optimizer's "
         "count say it), or resume from an earlier checkpoint; ckptfix does not rewrite these values."),
    Rule("CKF118", "checkpoint-folder-link", "info", "the checkpoint folder is a symbolic link",
         "The output folder holds a symbolic link where a checkpoint folder is expected. The trainer's resume "
         "follows it, and so does ckptfix: the files are read where the link leads (symbolic links inside the "
         "checkpoint are followed only when they stay inside it), and repair writes its changes, its backup and its "
         "lock there, which may be outside the output folder.",
         "Nothing to do when the link is meant (a checkpoint moved to another disk); otherwise replace it with the "
         "folder."),
    Rule("CKF119", "epoch-step-unusable", "error", "SimpleTuner's epoch_step is not an integer its resume can use",
         "SimpleTuner before 4.10 resumes with lr_scheduler.last_epoch = epoch_step × N, epoch_step taken from "
         "training_state.json as it is. A boolean counts as 1 or 0; null and objects raise a TypeError right after "
         "load_state and the resume stops; a string or a list becomes a string or list last_epoch that every "
         "scheduler step rejects; a float (even 22.0) is rejected by ckptfix's Sine (the fixed formula), and a "
         "fraction makes stock v2 run between its steps; NaN and infinities make every step raise. SimpleTuner "
         "catches a scheduler step's error and only logs it (\"Failed to get the last learning rate from the "
         "scheduler\"): the run goes on at the LR optimizer.bin holds, its schedule frozen. (A missing epoch_step "
         "is 0 to SimpleTuner: the resume preview, CKF111, judges that one.)",
         "ckptfix repair PATH sets epoch_step to the checkpoint's step, an integer (nothing else reads the stored "
         "value; docs/trainers.md).", repair=""),
    # -- what each trainer's own resume does (issue 21) ------------------------------------------------
    Rule("CKF140", "resume-skips-files-loaded-together", "error",
         "the trainer's resume loads none of the files it loads only together",
         "The transformers Trainer restores the optimizer and the LR scheduler only when optimizer.pt and "
         "scheduler.pt are both in the checkpoint (_load_optimizer_and_scheduler, transformers 5.24.0 trainer.py "
         "L3910-3931). With either missing it loads neither and says nothing: the resumed run starts with a fresh "
         "optimizer (AdamW's moments lost) and a fresh scheduler at position 0, so the LR schedule starts again "
         "(the warmup runs again) from the first resumed step, while the step count goes on. A run saved with "
         "save_only_model=True never writes either file (training_args.bin says so): transformers documents that "
         "such checkpoints cannot resume training.",
         "Resume from a checkpoint that has both files, or put the missing file back from a backup; ckptfix cannot "
         "recreate an optimizer. For a save_only_model=True run no checkpoint can resume the schedule: train again "
         "with save_only_model=False, or start a new schedule on purpose."),
    Rule("CKF141", "resume-step-count", "error", "the resumed run takes another number of steps than remain",
         "kohya sd-scripts' train_network.py counts the resumed run's steps itself: without "
         "--skip_until_initial_step (its default) global_step starts again at 0, from the epoch the stored step "
         "falls in (L1257-1275), so the run trains the whole max_train_steps again after the stored position; with "
         "it, the epochs before the stored step are subtracted in batches (L1340-1344): global_step = current_step - "
         "epochs done x batches per epoch, so a state saved past the first epoch trains those epochs' steps again. "
         "The scheduler continues from the stored last_epoch either way: the extra steps run past the schedule's end "
         "(a cosine climbs back up).",
         "Launch the resume the way the message says follows (usually with --skip_until_initial_step, from a state "
         "inside the first epoch), or set --max_train_steps of the resumed launch to what the message says; ckptfix "
         "does not change the trainer's step count."),
    Rule("CKF142", "launch-flag-unstated", "error", "the resume's step count depends on a launch flag ckptfix cannot see",
         "How kohya's resumed run counts its steps depends on --skip_until_initial_step, a flag of the resuming "
         "launch that no checkpoint file records, and the two launches train a different number of steps here "
         "(the message says what each does). Without the flag, kohya's default, global_step starts again at 0.",
         "Say which launch you will use: ckptfix inspect PATH --skip-until-initial-step (or "
         "--no-skip-until-initial-step); the verdict is then that launch's."),
    Rule("CKF143", "two-formulas-fit", "info", "the state fits two formulas; checked what they agree on",
         "At this position the fixed sine (0.5 + 0.5 cos(2 pi T_cur / T_i)) and torch's CosineAnnealingWarmRestarts "
         "(0.5 + 0.5 cos(pi T_cur / T_i)) give the same LR: at a restart (T_cur 0) and at T_cur = 2/3 T_i. Their "
         "states have the same keys, so ckptfix cannot tell which class wrote it. It checks what both agree on "
         "(last_epoch against N x the step, T_cur and T_i, _last_lr); the resume preview shows the fixed sine's "
         "LRs, which a script that builds CosineAnnealingWarmRestarts will not produce after the next step.",
         "Nothing to fix. If your script builds CosineAnnealingWarmRestarts, its resume continues with its own "
         "cosine from this position."),
    Rule("CKF144", "position-fits-another-formula", "error",
         "last_epoch is not N x the step, and another formula that fits the state explains it",
         "The state fits both the fixed sine and torch's CosineAnnealingWarmRestarts (CKF143), and last_epoch is "
         "not N x the step: as a sine state it is stale, but a CosineAnnealingWarmRestarts that the script steps "
         "less often than once per optimizer step (once per epoch, say) would be exactly here. ckptfix cannot tell "
         "which, so it does not rewrite it: a rewrite to N x the step would corrupt a correct per-epoch schedule.",
         "Check how your script steps the scheduler. Stepped once per optimizer step (a sine, or a "
         "CosineAnnealingWarmRestarts so stepped), the state is stale: take scheduler.bin from the matching "
         "checkpoint. Stepped once per epoch, nothing is wrong."),
    Rule("CKF145", "resume-extra-steps", "error", "the trainer's resumed loop takes more steps than remain",
         "The diffusers example scripts resume at first_epoch = global_step // num_update_steps_per_epoch and run "
         "that epoch from its first batch (no batch is skipped); at max_train_steps their break leaves only the "
         "inner loop, so after a resume from the middle of an epoch every later epoch takes one more optimizer step "
         "(train_text_to_image_lora.py L795, L805, L826-850, L860, L973-974 at 58eb52c). Those steps run past the "
         "schedule's end: at the full LR for a constant schedule, at 0 for linear or cosine. ckptfix counts them "
         "from --steps-per-epoch and --max-train-steps (no checkpoint file holds either).",
         "Resume from a checkpoint at the end of an epoch (its step a multiple of the steps per epoch), or stop the "
         "resumed run after max_train_steps yourself; ckptfix does not change the script's loop."),
    Rule("CKF114", "written-by-fixed-sine", "error", "written by the fixed sine, checked against SimpleTuner's v2",
         "With --target simpletuner-sine-v2 the state should be what stock SimpleTuner writes: v2 at N x step, "
         "total_steps = last_epoch, T_cur -1. This state holds the fixed formula; a stock trainer resumes it "
         "with v2 anyway, from the stored optimizer lr on the first step.",
         "ckptfix repair PATH --target simpletuner-sine-v2 rewrites it to v2 at the same step.", repair=""),
    # -- every scheduler family under the trainer's model (issue 21: analysis/schedule_checks.py) -----------------
    Rule("CKF120", "schedule-position", "error", "the scheduler's position is not k x the checkpoint's step",
         "A scheduler accelerate prepares (SimpleTuner, the diffusers scripts, kohya, plain accelerate) steps N times "
         "per optimizer step with N processes (once with split_batches or step_scheduler_with_optimizer=False); the "
         "transformers Trainer steps its own once. So last_epoch should be k x step, k the scheduler steps per "
         "optimizer step of the run that wrote it. On resume load_state restores last_epoch as stored: the schedule "
         "goes on from the wrong place. The message names every reading that fits the state: a stale or edited "
         "last_epoch, or a script that steps its scheduler another way (once per epoch: last_epoch = step / steps per "
         "epoch), or another N, and what to pass to say which.",
         "ckptfix repair PATH rewrites the position (last_epoch, _step_count, and _last_lr where the formula is "
         "known), keeping the class and every other key, when the stale reading is the only one that fits; pass "
         "--scheduler-steps-per-optimizer-step K or --writer-processes N to say how the run steps it.", repair=""),
    Rule("CKF121", "schedule-no-position", "info", "the scheduler follows a metric: it has no position to check",
         "ReduceLROnPlateau (and transformers' reduce_lr_on_plateau and greedy) change the LR when a metric stops "
         "improving: its last_epoch counts metric steps, and the LR at any step depends on the metrics seen, which no "
         "checkpoint keeps. load_state restores its counters (best, num_bad_epochs, cooldown_counter) as saved.",
         "Nothing to check; the resumed run goes on from the restored counters."),
    Rule("CKF122", "schedule-resume-off", "error", "the resumed run's LR departs from the uninterrupted run's",
         "ckptfix replays the resume with the trainer's own model: load_state restores the scheduler and the "
         "optimizer; the trainer may set last_epoch from its own state (SimpleTuner before 4.10: epoch_step x N, which "
         "drifts from global_step at epoch boundaries and after a resume with gradient accumulation; from 4.10: "
         "global_step x N); the resuming run steps the scheduler k times per optimizer step (N with its own number "
         "of processes). The first step uses the optimizer's stored lr, the next ones the scheduler's. Compared with "
         "the uninterrupted run (the writing run's schedule at k x step), the LR goes wrong from the step the message "
         "names.",
         "ckptfix repair PATH: it sets SimpleTuner's epoch_step to the step, or the position a resuming run with "
         "another N needs, when that makes the resume follow; otherwise resume with the writing run's N.", repair=""),
    Rule("CKF123", "schedule-changed", "error", "the resuming launch gives another schedule than the one saved",
         "A LambdaLR (transformers' and diffusers' get_scheduler, SimpleTuner's polynomial, kohya's schedules) does "
         "not save its lambda: the resumed run builds it from its own launch (--lr_scheduler, warmup, max steps, "
         "cycles, ...) and applies it at the stored position. When that launch differs from the one that wrote the "
         "checkpoint (the HF Trainer's training_args.bin says what that was), or the stored _last_lr is not the stated "
         "schedule's LR, the LR jumps on resume. Changing max_train_steps, the warmup or the cycle count of a run "
         "mid-way is the commonest case.",
         "Resume with the writing run's schedule settings (or accept the jump knowingly); if the settings you "
         "passed to ckptfix are not the resuming launch's, pass those. ckptfix does not rewrite a lambda."),
    Rule("CKF124", "schedule-position-moves", "error", "the resume moves the scheduler's position, and its LR there "
         "cannot be computed",
         "The trainer's resume sets last_epoch from its own state (SimpleTuner) or steps the scheduler another number "
         "of times per optimizer step than the run that wrote it (another N), so the schedule resumes from another "
         "position; the LR there depends on the schedule, which the state does not say (a LambdaLR's lambda is not "
         "saved).",
         "Pass the resuming launch's schedule (--lr-scheduler NAME with --lr-warmup-steps, --max-train-steps, ...) "
         "to see the LRs; ckptfix repair PATH sets SimpleTuner's epoch_step to the step.", repair=""),
    Rule("CKF125", "schedule-first-step-lr", "error", "the first resumed step uses another LR than the run's",
         "accelerate's load_state (and the Trainer) restore the optimizer's param_groups lr; the first optimizer step "
         "after the resume runs with it, before the scheduler steps again. Here that stored lr is not the LR the "
         "uninterrupted run uses at that step.",
         "ckptfix repair PATH --optimizer-lr sets the optimizer's stored lr (8 bytes per value; tensors untouched).",
         repair="--optimizer-lr"),
    Rule("CKF126", "configured-scheduler-missing", "error", "scheduler.bin is missing, and the trainer builds the "
         "scheduler its launch configures",
         "accelerate's load_state loads scheduler.bin with no fallback: a checkpoint without it cannot be resumed. "
         "The diffusers scripts, kohya sd-scripts and the other trainers that build the scheduler their "
         "--lr_scheduler names (a LambdaLR of get_scheduler's schedules) need a state of that class: a LambdaLR's "
         "load_state_dict raises KeyError 'lr_lambdas' on any other (a sine state, for one).",
         "ckptfix repair PATH --lr-scheduler NAME --lr-warmup-steps W --max-train-steps T creates the LambdaLR the "
         "trainer builds, at the checkpoint's position (with --learning-rate LR when the optimizer's initial_lr is "
         "not the run's); it refuses a schedule it cannot build as the trainer does.",
         repair="--lr-scheduler NAME --lr-warmup-steps W --max-train-steps T"),
]

RULES: dict[str, Rule] = {r.code: r for r in _RULES}
BY_NAME: dict[str, Rule] = {r.name: r for r in _RULES}


def lookup(code_or_name: str) -> Rule | None:
    key = code_or_name.strip()
    return RULES.get(key.upper()) or BY_NAME.get(key.lower())
