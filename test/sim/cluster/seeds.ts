/** Seeds from an environment variable: "7", "1-20", "3,5,9-12". */
export function seedList(text: string, variable: string): number[] {
  return text.split(',').flatMap((part) => {
    const match = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    if (match === null) throw new Error(`${variable}: "${part}" is not a seed or a range like 1-20`);
    const from = Number(match[1]);
    const to = match[2] === undefined ? from : Number(match[2]);
    if (to < from) throw new Error(`${variable}: range "${part}" runs backwards`);
    return Array.from({ length: to - from + 1 }, (_, i) => from + i);
  });
}
