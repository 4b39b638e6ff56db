/** Routes and asserts the plan came back synchronously (routing without embedding features never waits). */
import assert from 'node:assert/strict';
import type { CallContext } from '../../src/backends/types.js';
import type { RoutePlan, RouteRequest, Router } from '../../src/router/router.js';

export function routeNow(router: Router, req: RouteRequest, ctx: CallContext): RoutePlan {
  const plan = router.route(req, ctx);
  assert.ok(!(plan instanceof Promise), 'routing without embedding features must not wait');
  return plan;
}
