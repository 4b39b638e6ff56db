/**
 * A labelled corpus of realistic messages (support tickets, e-mails, chat turns, log excerpts)
 * generated with @faker-js/faker in nine locales, with the exact position of every personal or
 * secret value. Used by the leak test (test/privacy/leak.test.ts) and by `npm run bench:privacy`.
 * Deterministic for a given seed. About one message in eight is technical text (code, logs,
 * product names, hashes, UUIDs) that must produce no finding except the PII planted in it.
 */
import { fakerDE, fakerEN_GB, fakerEN_US, fakerES, fakerFR, fakerIT, fakerNL, fakerPL, fakerPT_BR, type Faker } from '@faker-js/faker';
import type { EntityType } from '../../src/privacy/types.js';

export interface Gold {
  type: EntityType;
  start: number;
  end: number;
}

export interface Message {
  locale: string;
  kind: string;
  text: string;
  entities: Gold[];
}

interface Locale {
  id: string;
  faker: Faker;
  lang: 'en' | 'de' | 'fr' | 'es' | 'it' | 'nl' | 'pt' | 'pl';
  intl: string;
  titles: string[];
}

const LOCALES: Locale[] = [
  { id: 'en_US', faker: fakerEN_US, lang: 'en', intl: 'en-US', titles: ['Mr.', 'Ms.', 'Mrs.', 'Dr.'] },
  { id: 'en_GB', faker: fakerEN_GB, lang: 'en', intl: 'en-GB', titles: ['Mr', 'Mrs', 'Ms', 'Dr'] },
  { id: 'de', faker: fakerDE, lang: 'de', intl: 'de-DE', titles: ['Herr', 'Frau', 'Dr.'] },
  { id: 'fr', faker: fakerFR, lang: 'fr', intl: 'fr-FR', titles: ['M.', 'Mme', 'Madame', 'Monsieur'] },
  { id: 'es', faker: fakerES, lang: 'es', intl: 'es-ES', titles: ['Sr.', 'Sra.', 'Don', 'Doña'] },
  { id: 'it', faker: fakerIT, lang: 'it', intl: 'it-IT', titles: ['Sig.', 'Sig.ra', 'Dott.'] },
  { id: 'nl', faker: fakerNL, lang: 'nl', intl: 'nl-NL', titles: ['Dhr.', 'Mevr.', 'Meneer'] },
  { id: 'pt_BR', faker: fakerPT_BR, lang: 'pt', intl: 'pt-BR', titles: ['Sr.', 'Sra.', 'Dr.'] },
  { id: 'pl', faker: fakerPL, lang: 'pl', intl: 'pl-PL', titles: ['Pan', 'Pani', 'Dr'] },
];

/** Builds text piece by piece, recording where each labelled value lands. */
class Builder {
  text = '';
  entities: Gold[] = [];
  t(s: string): this {
    this.text += s;
    return this;
  }
  e(type: EntityType, value: string): this {
    const start = this.text.length;
    this.text += value;
    this.entities.push({ type, start, end: this.text.length });
    return this;
  }
}

type Slot = (b: Builder) => void;

/**
 * Pronounceable names that are in no list anywhere ("Talvoren Quisbeck"): the `synthetic` corpus
 * measures what context and capitalisation find on their own, without the gazetteer.
 */
function syntheticName(f: Faker): string {
  const onset = ['b', 'br', 'd', 'dr', 'f', 'g', 'gr', 'k', 'kl', 'l', 'm', 'n', 'p', 'r', 's', 'st', 't', 'tr', 'v', 'z', 'sh', 'th'];
  const vowel = ['a', 'e', 'i', 'o', 'u', 'ai', 'ei', 'ou', 'ia'];
  const coda = ['', '', 'n', 'r', 'l', 's', 'th', 'nd', 'rk', 'x'];
  let w = '';
  for (let k = f.number.int({ min: 2, max: 3 }); k > 0; k--) w += f.helpers.arrayElement(onset) + f.helpers.arrayElement(vowel) + f.helpers.arrayElement(coda);
  return w[0]!.toUpperCase() + w.slice(1);
}

/** Generators of labelled values for one locale. */
function slots(loc: Locale, synthetic = false) {
  const f = loc.faker;
  const pick = <T>(xs: readonly T[]): T => f.helpers.arrayElement(xs);
  const date = () => f.date.between({ from: '2019-01-01', to: '2026-12-31' });
  const fmtDate = (): string => {
    const d = date();
    switch (f.number.int(4)) {
      case 0:
        return new Intl.DateTimeFormat(loc.intl, { dateStyle: 'long', timeZone: 'UTC' }).format(d);
      case 1:
        return new Intl.DateTimeFormat(loc.intl, { dateStyle: 'short', timeZone: 'UTC' }).format(d).replace(/\/(\d\d)$/, '/20$1');
      case 2:
        return d.toISOString().slice(0, 10);
      case 3:
        return new Intl.DateTimeFormat(loc.intl, { day: 'numeric', month: 'long', timeZone: 'UTC' }).format(d);
      default:
        return new Intl.DateTimeFormat(loc.intl, { dateStyle: 'medium', timeZone: 'UTC' }).format(d);
    }
  };
  const ssn = () => {
    const area = f.number.int({ min: 1, max: 899 });
    const a = area === 666 ? 667 : area;
    return `${String(a).padStart(3, '0')}-${String(f.number.int({ min: 1, max: 99 })).padStart(2, '0')}-${String(f.number.int({ min: 1, max: 9999 })).padStart(4, '0')}`;
  };
  const dea = () => {
    const letters = pick(['A', 'B', 'F', 'M']) + f.string.alpha({ length: 1, casing: 'upper' });
    const d = Array.from({ length: 6 }, () => f.number.int(9));
    const check = (d[0]! + d[2]! + d[4]! + 2 * (d[1]! + d[3]! + d[5]!)) % 10;
    return `${letters}${d.join('')}${check}`;
  };
  const driverLicense = () =>
    pick([
      () => `${f.string.alpha({ length: 1, casing: 'upper' })}${f.string.numeric(7)}`,
      () => `${f.string.numeric(3)}-${f.string.numeric(3)}-${f.string.numeric(3)}`,
      () => `${f.string.alpha({ length: 1, casing: 'upper' })}${f.string.numeric(12)}`,
      () => `${f.string.numeric(9)}`,
      () => `${f.string.alpha({ length: 1, casing: 'upper' })}${f.string.numeric(3)}-${f.string.numeric(3)}-${f.string.numeric(2)}-${f.string.numeric(3)}-${f.string.numeric(1)}`,
    ])();
  const apiKey = () =>
    pick([
      () => `sk-proj-${f.string.alphanumeric(40)}`,
      () => `ghp_${f.string.alphanumeric(36)}`,
      () => `AKIA${f.string.alphanumeric({ length: 16, casing: 'upper' })}`,
      () => `xoxb-${f.string.numeric(12)}-${f.string.numeric(12)}-${f.string.alphanumeric(24)}`,
      () => `sk_live_${f.string.alphanumeric(24)}`,
      () => `AIza${f.string.alphanumeric(35)}`,
      () => f.internet.jwt(),
    ])();
  const firstName = () => (synthetic ? syntheticName(f) : f.person.firstName().split(' ')[0]!);
  const lastName = () => (synthetic ? syntheticName(f) : f.person.lastName());
  return {
    person: (b: Builder) => b.e('PERSON', `${firstName()} ${lastName()}`),
    first: (b: Builder) => b.e('PERSON', firstName()),
    titled: (b: Builder) => b.t(`${pick(loc.titles)} `).e('PERSON', lastName()),
    titledFull: (b: Builder) => b.t(`${pick(loc.titles)} `).e('PERSON', `${firstName()} ${lastName()}`),
    email: (b: Builder) => b.e('EMAIL_ADDRESS', f.internet.email()),
    phone: (b: Builder) => b.e('PHONE_NUMBER', f.phone.number({ style: pick(['human', 'national', 'international'] as const) }).replace(/\s*x\d+$/, '')),
    street: (b: Builder) => b.e('LOCATION', f.location.streetAddress(f.datatype.boolean())),
    city: (b: Builder) => b.e('LOCATION', f.location.city()),
    country: (b: Builder) => b.e('LOCATION', f.location.country()),
    address: (b: Builder) => b.e('LOCATION', f.location.streetAddress()).t(', ').t(`${f.location.zipCode()} `).e('LOCATION', f.location.city()),
    org: (b: Builder) => b.e('ORGANIZATION', f.company.name()),
    date: (b: Builder) => b.e('DATE_TIME', fmtDate()),
    time: (b: Builder) => b.e('DATE_TIME', pick([`${f.number.int({ min: 7, max: 20 })}:${pick(['00', '15', '30', '45'])}`, `${f.number.int({ min: 1, max: 12 })}:${pick(['00', '30'])} ${pick(['AM', 'PM', 'pm'])}`])),
    card: (b: Builder) => b.e('CREDIT_CARD', f.finance.creditCardNumber({ issuer: pick(['visa', 'mastercard', 'amex', 'discover']) })),
    iban: (b: Builder) => b.e('IBAN_CODE', f.finance.iban({ formatted: f.datatype.boolean(), countryCode: pick(['DE', 'FR', 'ES', 'IT', 'NL', 'GB', 'PL', 'PT', 'BE', 'AT', 'CH', 'IE']) })),
    ssn: (b: Builder) => b.e('US_SSN', ssn()),
    ip: (b: Builder) => b.e('IP_ADDRESS', f.datatype.boolean(0.75) ? f.internet.ipv4() : f.internet.ipv6()),
    url: (b: Builder) => b.e('URL', `${f.internet.url({ appendSlash: false })}/${pick(['account', 'orders', 'profile', 'u', 'invoice'])}/${f.string.alphanumeric(8)}`),
    domain: (b: Builder) => b.e('DOMAIN_NAME', f.internet.domainName()),
    dl: (b: Builder) => b.e('US_DRIVER_LICENSE', driverLicense()),
    bank: (b: Builder) => b.e('US_BANK_NUMBER', f.finance.accountNumber(f.number.int({ min: 8, max: 12 }))),
    routing: (b: Builder) => b.e('US_BANK_NUMBER', f.finance.routingNumber()),
    btc: (b: Builder) => b.e('CRYPTO', f.datatype.boolean() ? f.finance.bitcoinAddress() : f.finance.ethereumAddress()),
    dea: (b: Builder) => b.e('MEDICAL_LICENSE', dea()),
    apiKey: (b: Builder) => b.e('SECRET', apiKey()),
    password: (b: Builder) => b.e('SECRET', f.internet.password({ length: f.number.int({ min: 10, max: 16 }) }) + f.string.numeric(2)),
    lastOnly: (b: Builder) => b.e('PERSON', lastName()),
    pick,
    faker: f,
  };
}

type S = ReturnType<typeof slots>;

/** Message frames. Each returns a builder with the message written into it. */
const EN_FRAMES: Array<(s: S, b: Builder) => void> = [
  (s, b) => {
    b.t('Hi ');
    s.first(b);
    b.t(',\n\nThanks for reaching out. I have updated the account for ');
    s.person(b);
    b.t(' (');
    s.email(b);
    b.t('). The new billing address is ');
    s.address(b);
    b.t('. Please call ');
    s.phone(b);
    b.t(' if anything looks off.\n\nBest regards,\n');
    s.person(b);
    b.t('\n');
    s.org(b);
  },
  (s, b) => {
    b.t('Ticket #');
    b.t(s.faker.string.numeric(5));
    b.t(': customer ');
    s.person(b);
    b.t(' says the card ending in ');
    b.t(s.faker.string.numeric(4));
    b.t(' was charged twice on ');
    s.date(b);
    b.t('. Full card number on file: ');
    s.card(b);
    b.t('. Refund to IBAN ');
    s.iban(b);
    b.t(' please.');
  },
  (s, b) => {
    b.t('Dear ');
    s.titled(b);
    b.t(',\n\nyour appointment is confirmed for ');
    s.date(b);
    b.t(' at ');
    s.time(b);
    b.t('. Our clinic is at ');
    s.street(b);
    b.t(' in ');
    s.city(b);
    b.t('. Your physician, Dr. ');
    s.lastOnly(b);
    b.t(' (DEA ');
    s.dea(b);
    b.t('), will see you.\n\nKind regards,\n');
    s.first(b);
  },
  (s, b) => {
    b.t('i moved to ');
    s.city(b);
    b.t(' last month, can you update my profile? new phone is ');
    s.phone(b);
    b.t(' and my email changed to ');
    s.email(b);
    b.t(' thx');
  },
  (s, b) => {
    b.t('For the background check: SSN ');
    s.ssn(b);
    b.t(", driver's license number ");
    s.dl(b);
    b.t(', date of birth ');
    s.date(b);
    b.t('. Applicant: ');
    s.person(b);
    b.t(', currently living in ');
    s.country(b);
    b.t('.');
  },
  (s, b) => {
    b.t('Please wire the deposit to account number ');
    s.bank(b);
    b.t(', routing number ');
    s.routing(b);
    b.t('. The account holder is ');
    s.person(b);
    b.t(' at ');
    s.org(b);
    b.t('.');
  },
  (s, b) => {
    b.t('Login attempts from ');
    s.ip(b);
    b.t(' and ');
    s.ip(b);
    b.t(' for user ');
    s.email(b);
    b.t(' were blocked. Reset link: ');
    s.url(b);
  },
  (s, b) => {
    b.t('Can you send the refund in crypto instead? My wallet: ');
    s.btc(b);
    b.t('. — ');
    s.person(b);
  },
  (s, b) => {
    b.t('My name is ');
    s.person(b);
    b.t(' and I work for ');
    s.org(b);
    b.t('. Our website ');
    s.domain(b);
    b.t(' is down since ');
    s.date(b);
    b.t('. You can reach my colleague ');
    s.person(b);
    b.t(' on ');
    s.phone(b);
    b.t('.');
  },
  (s, b) => {
    b.t('Meeting notes ');
    s.date(b);
    b.t('\nAttendees: ');
    s.person(b);
    b.t(', ');
    s.person(b);
    b.t(', ');
    s.person(b);
    b.t('\n- ');
    s.first(b);
    b.t(' will follow up with ');
    s.org(b);
    b.t(' about the contract\n- next meeting in ');
    s.city(b);
    b.t(' on ');
    s.date(b);
  },
  (s, b) => {
    b.t('Hey, I accidentally pasted our config in the chat:\n\nDB_HOST=db.internal\nDB_PASSWORD=');
    s.password(b);
    b.t('\nOPENAI_API_KEY=');
    s.apiKey(b);
    b.t('\n\ncan you tell me how to rotate these? thanks, ');
    s.first(b);
  },
  (s, b) => {
    b.t('Shipping to: ');
    s.person(b);
    b.t(', ');
    s.address(b);
    b.t(', ');
    s.country(b);
    b.t('. Phone: ');
    s.phone(b);
    b.t('. Delivery window ');
    s.date(b);
    b.t(' between ');
    s.time(b);
    b.t(' and ');
    s.time(b);
    b.t('.');
  },
  (s, b) => {
    b.t('From: ');
    s.person(b);
    b.t(' <');
    s.email(b);
    b.t('>\nSubject: invoice question\n\nHello,\nI was billed by ');
    s.org(b);
    b.t(' but I never ordered anything. My customer number is ');
    b.t(s.faker.string.numeric(8));
    b.t('. Please contact me at ');
    s.phone(b);
    b.t('.\n\nSincerely,\n');
    s.titledFull(b);
  },
  (s, b) => {
    b.t('Patient ');
    s.person(b);
    b.t(', born ');
    s.date(b);
    b.t(', was referred by ');
    s.titled(b);
    b.t(' from ');
    s.org(b);
    b.t('. Emergency contact: ');
    s.person(b);
    b.t(', ');
    s.phone(b);
    b.t('.');
  },
];

const NATIVE_FRAMES: Partial<Record<Locale['lang'], Array<(s: S, b: Builder) => void>>> = {
  de: [
    (s, b) => {
      b.t('Sehr geehrte ');
      s.titled(b);
      b.t(',\n\nvielen Dank für Ihre Nachricht vom ');
      s.date(b);
      b.t('. Wir haben Ihre neue Adresse ');
      s.address(b);
      b.t(' gespeichert. Die Rückerstattung geht auf die IBAN ');
      s.iban(b);
      b.t('.\n\nMit freundlichen Grüßen\n');
      s.person(b);
      b.t('\n');
      s.org(b);
    },
    (s, b) => {
      b.t('Hallo ');
      s.first(b);
      b.t(', kannst du ');
      s.person(b);
      b.t(' unter ');
      s.phone(b);
      b.t(' zurückrufen? Sie wohnt jetzt in ');
      s.city(b);
      b.t(' und ihre E-Mail ist ');
      s.email(b);
      b.t('.');
    },
  ],
  fr: [
    (s, b) => {
      b.t('Bonjour ');
      s.titled(b);
      b.t(',\n\nNous avons bien reçu votre demande du ');
      s.date(b);
      b.t('. Votre nouvelle adresse ');
      s.address(b);
      b.t(' est enregistrée. Pour toute question, appelez le ');
      s.phone(b);
      b.t('.\n\nCordialement,\n');
      s.person(b);
    },
    (s, b) => {
      b.t('Le client ');
      s.person(b);
      b.t(' habite à ');
      s.city(b);
      b.t(' et travaille chez ');
      s.org(b);
      b.t('. Son courriel : ');
      s.email(b);
      b.t('.');
    },
  ],
  es: [
    (s, b) => {
      b.t('Hola ');
      s.first(b);
      b.t(', te escribo porque ');
      s.person(b);
      b.t(' no puede acceder a su cuenta desde el ');
      s.date(b);
      b.t('. Su teléfono es ');
      s.phone(b);
      b.t(' y vive en ');
      s.address(b);
      b.t('.\n\nSaludos,\n');
      s.person(b);
    },
  ],
  it: [
    (s, b) => {
      b.t('Buongiorno ');
      s.titled(b);
      b.t(', la sua richiesta del ');
      s.date(b);
      b.t(' è stata registrata. Indirizzo di spedizione: ');
      s.address(b);
      b.t('. Cordiali saluti, ');
      s.person(b);
    },
  ],
  pt: [
    (s, b) => {
      b.t('Olá ');
      s.first(b);
      b.t(', o pagamento de ');
      s.person(b);
      b.t(' foi recusado em ');
      s.date(b);
      b.t('. Telefone para contato: ');
      s.phone(b);
      b.t('. Abraços, ');
      s.person(b);
    },
  ],
  nl: [
    (s, b) => {
      b.t('Beste ');
      s.first(b);
      b.t(', ');
      s.person(b);
      b.t(' woont sinds ');
      s.date(b);
      b.t(' op ');
      s.street(b);
      b.t(' in ');
      s.city(b);
      b.t('. Met vriendelijke groet, ');
      s.person(b);
    },
  ],
  pl: [
    (s, b) => {
      b.t('Dzień dobry, ');
      s.titled(b);
      b.t(' prosi o kontakt pod numerem ');
      s.phone(b);
      b.t('. Adres: ');
      s.address(b);
      b.t('. Pozdrawiam, ');
      s.person(b);
    },
  ],
};

/** Technical messages: product names, versions, hashes in code, UUIDs in logs; only planted PII counts. */
const TECH_FRAMES: Array<(s: S, b: Builder) => void> = [
  (s, b) => {
    const f = s.faker;
    b.t('Our EKS cluster on C4 and m5.large nodes pulls from S3, but GPT-4 calls time out after v2.3.1. Log:\n```\n');
    b.t(`2024-01-01T10:00:00Z INFO request_id=${f.string.uuid()} sha=${f.git.commitSha()} latency_ms=${f.number.int(900)}\n`);
    b.t(`2024-01-01T10:00:01Z WARN trace=${f.string.uuid()} retry=2 upstream=api.openai.com\n`);
    b.t('```\nAny idea? Using Node 20.11, Postgres 16 and Redis 7.2 on Kubernetes 1.29.');
  },
  (s, b) => {
    const f = s.faker;
    b.t('Why does `git checkout ');
    b.t(f.git.commitSha({ length: 7 }));
    b.t('` fail? The commit ');
    b.t(f.git.commitSha());
    b.t(' is on main. I use Python 3.11.4 with numpy 1.26 and the H100 GPUs on AWS p5.48xlarge.');
  },
  (s, b) => {
    b.t('Function to fix:\n```python\ndef total(items):\n    return sum(i.price for i in items)  # os.path.join, self.name, user.email\n```\nIt returns 0 for the S3 export. Ping ');
    s.email(b);
    b.t(' if you need access.');
  },
  (s, b) => {
    const f = s.faker;
    b.t(`Deployment ${f.string.uuid()} rolled back: image sha256:${f.string.hexadecimal({ length: 64, casing: 'lower', prefix: '' })} failed health checks on port 8080 (GKE 1.28, Istio 1.20). Contact on-call: `);
    s.person(b);
    b.t('.');
  },
];

/**
 * Generates `count` messages, cycling through locales. `names: 'synthetic'` replaces every
 * person's name with an invented one that no gazetteer contains.
 */
export function generateCorpus(count: number, seed = 42, options: { names?: 'faker' | 'synthetic' } = {}): Message[] {
  const out: Message[] = [];
  for (let i = 0; i < count; i++) {
    const loc = LOCALES[i % LOCALES.length]!;
    loc.faker.seed(seed * 100_003 + i);
    const s = slots(loc, options.names === 'synthetic');
    const b = new Builder();
    let kind: string;
    const r = loc.faker.number.int(99);
    const native = NATIVE_FRAMES[loc.lang];
    if (r < 12) {
      kind = 'tech';
      s.pick(TECH_FRAMES)(s, b);
    } else if (native && r < 50) {
      kind = `native-${loc.lang}`;
      s.pick(native)(s, b);
    } else {
      kind = 'en';
      s.pick(EN_FRAMES)(s, b);
    }
    out.push({ locale: loc.id, kind, text: b.text, entities: b.entities });
  }
  return out;
}
