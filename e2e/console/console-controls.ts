import type { Page } from 'playwright-core';

/**
 * The console's controls, found by role and by the exact accessible names issue 10 lists. `page`
 * is read at each call: the spec opens its page in beforeAll, after these are made.
 */
export function consoleControls(page: () => Page) {
  const providerBox = () => page().getByRole('combobox', { name: 'Provider', exact: true });
  return {
    apiKeyBox: () => page().getByRole('textbox', { name: 'API key', exact: true }),
    signInButton: () => page().getByRole('button', { name: 'Sign in', exact: true }),
    signOutButton: () => page().getByRole('button', { name: 'Sign out', exact: true }),
    providerBox,
    modelBox: () => page().getByRole('combobox', { name: 'Model', exact: true }),
    messageBox: () => page().getByRole('textbox', { name: 'Message', exact: true }),
    sendButton: () => page().getByRole('button', { name: 'Send', exact: true }),
    stopButton: () => page().getByRole('button', { name: 'Stop', exact: true }),
    conversation: () => page().getByRole('log', { name: 'Conversation', exact: true }),
    usageLink: () => page().getByRole('link', { name: 'Usage', exact: true }),
    chatLink: () => page().getByRole('link', { name: 'Chat', exact: true }),
    alert: () => page().getByRole('alert'),
    selectedProvider: () => providerBox().locator('option:checked').textContent(),
    lastAnswer: () => page().locator('article[data-role=assistant]').last(),
    /** The period of the usage rows on show, or undefined while they load. */
    usagePeriodShown: () => page().locator('section.usage[data-state=loaded]').evaluateAll((all) => all.map((el) => el.getAttribute('data-period'))[0]),
  };
}
