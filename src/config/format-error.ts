import type { z } from 'zod';

/** `['backends', 1, 'baseUrl']` -> `backends[1].baseUrl` */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out || '(root)';
}

/** One line per problem, `path: reason`, in the order zod found them. */
export function formatZodError(error: z.ZodError): string[] {
  return error.issues.map((issue) => {
    let message = issue.message;
    if (issue.code === 'unrecognized_keys') message = `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
    return `${formatPath(issue.path)}: ${message}`;
  });
}
