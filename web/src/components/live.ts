import { useEffect, useRef } from 'preact/hooks';
import { subscribe } from '../lib/gql.ts';

/**
 * Keeps a list of pipelines or workflows live: follows each running workflow it shows with the
 * `workflowJobs` subscription, and reads the list again (once for a burst) when a job or workflow
 * changes. A feed that fails leaves the list as it was read.
 */
export const useLiveReload = (workflowIds: ReadonlyArray<string>, reload: () => void) => {
  const key = [...workflowIds].sort().join(',');
  const latest = useRef(reload);
  latest.current = reload;
  useEffect(() => {
    if (!key) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const later = () => {
      clearTimeout(timer);
      timer = setTimeout(() => latest.current(), 300);
    };
    const stops = key.split(',').map((id) => {
      let snapshots = 0;
      // a snapshot after the first is a feed started again (the connection came back): what changed meanwhile is read
      return subscribe<{ workflowJobs: { action: string } }>('subscription($id: ID!) { workflowJobs(workflowId: $id) { action } }', { id }, (d) => {
        if (d.workflowJobs.action !== 'snapshot' || snapshots++ > 0) later();
      });
    });
    return () => {
      clearTimeout(timer);
      for (const stop of stops) stop();
    };
  }, [key]);
};
