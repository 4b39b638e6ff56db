/**
 * The task APIs over HTTP: POST /v1/tasks/{summarize,extract,classify,cluster}. Each is an
 * inference route (config.endpoint), so it gets an ApiCall: auth, the in-flight cap, admission
 * (budgets), one usage event with the task's name, and route headers.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { TASK_NAMES, type TaskService } from '../../tasks/service.js';
import { apiCallOf, routeHeaders, type ApiRouteConfig } from '../request-context.js';

const route: { config: ApiRouteConfig } = { config: { endpoint: 'chat.completions' } };

export function taskRoutes(service: TaskService): (app: FastifyInstance) => void {
  return (app) => {
    for (const task of TASK_NAMES) {
      app.post(`/v1/tasks/${task}`, route, async (request: FastifyRequest, reply: FastifyReply) => {
        const call = apiCallOf(request);
        call.task = task;
        const run = service.newRun(call, { headers: request.headers });
        try {
          const response = await service.run(task, request.body, run);
          run.applyTo(call, task);
          if (call.backend) reply.header('x-sluice-backend', call.backend.name);
          if (call.route !== null) reply.headers(routeHeaders(call, {}));
          call.finish('ok', 200);
          return response;
        } catch (err) {
          // The error handler finishes the call: it must carry what the task used before failing.
          run.applyTo(call, task);
          throw err;
        }
      });
    }
  };
}
