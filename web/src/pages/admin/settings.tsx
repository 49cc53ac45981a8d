import { useEffect, useState } from 'preact/hooks';
import { gql } from '../../lib/gql.ts';
import { useQuery } from '../../lib/hooks.ts';
import { formOf, maxRetentionDays, retentionFields, settingsInput, type SettingsForm, type SystemSettings } from '../../lib/settings-form.ts';
import { ErrorBox, Loading, Page } from '../../lib/ui.tsx';
import { ConfirmButton, Outcome, useAction } from '../../lib/actions.tsx';

const fields = `suspendNewUsers requiredOrgMembership licenseSeats seatsUsed ${retentionFields.map(([f]) => f).join(' ')}`;

/** A labelled input with its own error, tied to it for assistive tools. */
const SettingField = ({
  id,
  label,
  hint,
  error,
  value,
  onInput,
  days,
}: {
  id: string;
  label: string;
  hint?: string;
  error?: string | undefined;
  value: string;
  onInput: (v: string) => void;
  days?: boolean;
}) => {
  const describedBy = [hint ? `${id}-hint` : '', error ? `${id}-error` : ''].filter(Boolean).join(' ') || undefined;
  return (
    <div class="field">
      <label for={id}>{label}</label>
      {days ? (
        <input
          id={id}
          name={id}
          type="number"
          min={1}
          max={maxRetentionDays}
          step={1}
          value={value}
          aria-invalid={error ? 'true' : undefined}
          aria-describedby={describedBy}
          onInput={(e) => onInput(e.currentTarget.value)}
        />
      ) : (
        <input
          id={id}
          name={id}
          type="text"
          value={value}
          aria-invalid={error ? 'true' : undefined}
          aria-describedby={describedBy}
          onInput={(e) => onInput(e.currentTarget.value)}
        />
      )}
      {hint ? (
        <small id={`${id}-hint`} class="muted">
          {hint}
        </small>
      ) : null}
      {error ? (
        <small id={`${id}-error`} class="field-error">
          <span aria-hidden="true">✕ </span>
          {error}
        </small>
      ) : null}
    </div>
  );
};

/** System settings (seats, sign-up, retention) and master key rotation. */
export const Settings = () => {
  const loaded = useQuery<{ systemSettings: SystemSettings }>(`query { systemSettings { ${fields} } }`);
  const [form, setForm] = useState<SettingsForm | null>(null);
  const [errors, setErrors] = useState<Partial<Record<keyof SettingsForm, string>>>({});
  const save = useAction();
  const rotate = useAction();
  const [rotation, setRotation] = useState<{ keyId: string; previousKeyIds: string[]; rewrapped: number } | null>(null);
  const settings = loaded.data?.systemSettings;
  useEffect(() => {
    if (settings) setForm(formOf(settings));
  }, [settings]);
  const set = (k: keyof SettingsForm) => (v: string | boolean) => setForm((f) => (f ? { ...f, [k]: v } : f));

  return (
    <Page title="Settings">
      <ErrorBox error={loaded.error} />
      {!form || !settings ? (
        loaded.loading ? (
          <Loading />
        ) : null
      ) : (
        <form
          class="stack settings"
          aria-labelledby="system-settings"
          noValidate
          onSubmit={async (e) => {
            e.preventDefault();
            const checked = settingsInput(form);
            setErrors(checked.errors ?? {});
            if (!checked.input) {
              const first = Object.keys(checked.errors)[0];
              if (first) document.getElementById(`setting-${first}`)?.focus();
              return;
            }
            const input = checked.input;
            if (
              await save.run(
                () => gql(`mutation($input: SystemSettingsInput!) { updateSystemSettings(input: $input) { ${fields} } }`, { input }),
                'Settings saved.',
              )
            )
              loaded.reload();
          }}
        >
          <h2 id="system-settings">System settings</h2>
          <fieldset>
            <legend>Accounts</legend>
            <SettingField
              id="setting-licenseSeats"
              label="Licence seats"
              hint={`Active accounts allowed; empty for no limit. ${settings.seatsUsed} in use.`}
              error={errors.licenseSeats}
              value={form.licenseSeats}
              onInput={set('licenseSeats')}
            />
            <label class="check">
              <input type="checkbox" name="suspendNewUsers" checked={form.suspendNewUsers} onChange={(e) => set('suspendNewUsers')(e.currentTarget.checked)} />
              <span>Suspend new users (they wait until an admin activates them)</span>
            </label>
            <SettingField
              id="setting-requiredOrgMembership"
              label="Required organisations"
              hint="GitHub organisations whose members may sign up, separated by commas; empty lets anyone sign up."
              error={errors.requiredOrgMembership}
              value={form.requiredOrgMembership}
              onInput={set('requiredOrgMembership')}
            />
          </fieldset>
          <fieldset>
            <legend>Retention</legend>
            <p class="muted">Whole days, 1 to {maxRetentionDays}.</p>
            {retentionFields.map(([f, label]) => (
              <SettingField key={f} id={`setting-${f}`} label={label} days error={errors[f]} value={form[f]} onInput={set(f)} />
            ))}
          </fieldset>
          {Object.keys(errors).length ? (
            <p class="error" role="alert">
              <span aria-hidden="true">✕ </span>Some settings need fixing: see the fields marked.
            </p>
          ) : null}
          <div class="row">
            <button type="submit" class="primary">
              Save settings
            </button>
          </div>
          <Outcome done={save.done} error={save.error} statusRef={save.statusRef} />
        </form>
      )}

      <section class="stack" aria-labelledby="master-key">
        <h2 id="master-key">Master key</h2>
        <p>
          Re-wraps every data key under the current master key while Gyre keeps serving. To change the key: set the new one as <code>GYRE_MASTER_KEY</code>, the
          old one in <code>GYRE_MASTER_KEY_PREVIOUS</code>, restart Gyre, then rotate.
        </p>
        <div class="row">
          <ConfirmButton
            label="Rotate master key"
            question="Rotate the master key now?"
            onConfirm={async () => {
              await rotate.run(
                async () =>
                  setRotation(
                    (
                      await gql<{ rotateMasterKey: { keyId: string; previousKeyIds: string[]; rewrapped: number } }>(
                        'mutation { rotateMasterKey { keyId previousKeyIds rewrapped } }',
                      )
                    ).rotateMasterKey,
                  ),
                'Master key rotated.',
              );
            }}
          />
        </div>
        <Outcome done={rotate.done} error={rotate.error} statusRef={rotate.statusRef} />
        {rotation ? (
          <dl class="facts">
            <dt>Current key</dt>
            <dd>
              <code>{rotation.keyId}</code>
            </dd>
            <dt>Data keys re-wrapped</dt>
            <dd>{rotation.rewrapped}</dd>
            <dt>Previous keys</dt>
            <dd>{rotation.previousKeyIds.length ? rotation.previousKeyIds.map((k) => <code key={k}>{k} </code>) : 'none'}</dd>
          </dl>
        ) : null}
      </section>

      <section aria-labelledby="vm-service">
        <h2 id="vm-service">VM service</h2>
        <p class="muted">VM service settings and pools come with a later release of Gyre.</p>
      </section>
    </Page>
  );
};
