/** A step's output beyond this is cut, with a line saying so. */
export const maxStepOutputBytes = 32 * 1024 * 1024;

/** CircleCI's step numbers (API v1.1 `step`): 0 spins up the environment, the config's steps are 101 on. */
export const circleStepNumber = (stepIndex: number) => (stepIndex === 0 ? 0 : 100 + stepIndex);
export const stepIndexOf = (circleStep: number) => (circleStep === 0 ? 0 : circleStep > 100 ? circleStep - 100 : -1);
