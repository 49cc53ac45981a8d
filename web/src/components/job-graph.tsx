import { layout, nodeSize } from '../lib/graph.ts';
import { navigate } from '../lib/router.tsx';
import { stateMark, stateWords } from '../lib/ui.tsx';

export interface GraphNode {
  readonly id: string;
  readonly name: string;
  readonly status: string;
  readonly type: string;
  readonly dependencies: ReadonlyArray<string>;
  /** Where the job's page is. */
  readonly href: string;
}

const tones: Record<string, string> = {
  success: 'good',
  failed: 'bad',
  infrastructure_fail: 'bad',
  timedout: 'bad',
  unauthorized: 'bad',
  running: 'busy',
  on_hold: 'hold',
  queued: 'wait',
  blocked: 'wait',
};
const fit = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

/**
 * A workflow's jobs as a graph: a column per depth of `requires`, a line from each job to those that
 * require it. Each job is a link named by its name and state in words (its colour and mark repeat it).
 */
export const JobGraph = ({ label, jobs }: { label: string; jobs: ReadonlyArray<GraphNode> }) => {
  const l = layout(jobs);
  const pad = 4;
  return (
    <div class="graph">
      <svg
        role="group"
        aria-label={label}
        width={l.width + 2 * pad}
        height={l.height + 2 * pad}
        viewBox={`${-pad} ${-pad} ${l.width + 2 * pad} ${l.height + 2 * pad}`}
      >
        {/* biome-ignore lint/a11y/noAriaHiddenOnFocusable: the edges are paths, nothing in them takes focus */}
        <g aria-hidden="true">
          {l.edges.map((e) => (
            <path key={`${e.from}>${e.to}`} class="graph-edge" d={e.d} />
          ))}
        </g>
        {l.nodes.map(({ job, x, y }) => (
          <a
            key={job.id}
            href={job.href}
            class={`graph-node tone-${tones[job.status] ?? 'off'}`}
            aria-label={`${job.name}: ${stateWords(job.status)}`}
            data-job={job.name}
            data-state={job.status}
            onClick={(e: MouseEvent) => {
              if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
              e.preventDefault();
              navigate(job.href);
            }}
          >
            <title>{`${job.name}: ${stateWords(job.status)}`}</title>
            <rect x={x} y={y} width={nodeSize.width} height={nodeSize.height} rx="8" />
            <text x={x + 12} y={y + 22} class="graph-name">
              {fit(job.name, 24)}
            </text>
            <text x={x + 12} y={y + 42} class="graph-state">
              {`${stateMark(job.status)} ${stateWords(job.status)}${job.type === 'approval' ? ' · approval' : ''}`}
            </text>
          </a>
        ))}
      </svg>
    </div>
  );
};
